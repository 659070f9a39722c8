"""A stored job that does not load (here: the ``null`` an older build wrote for a NaN learning
rate, put straight into the database) never fails a read of anything else: the tenant's list
leaves it out, reading or cancelling it is a 409 in Together's body naming it, deleting it clears
it, and all of that holds after a restart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.settings import Settings
from tests.steps import auth, conversations, create_job, upload


def break_job(data_dir: Path, job_id: str) -> None:
    """The job's document as an older build stored a NaN learning rate: JSON's null."""
    db = sqlite3.connect(data_dir / "together-sim.sqlite3")
    try:
        (doc,) = db.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
        with db:
            db.execute(
                "UPDATE jobs SET doc = ? WHERE id = ?",
                (json.dumps({**json.loads(doc), "learning_rate": None}), job_id),
            )
    finally:
        db.close()


@pytest.fixture
def jobs(client: TestClient, settings: Settings) -> tuple[str, str]:
    """Two jobs of the key's tenant, the second broken in the store."""
    train = upload(client, conversations(40))["id"]
    good, bad = create_job(client, train)["id"], create_job(client, train)["id"]
    break_job(settings.data_dir, bad)
    return good, bad


def _unreadable(bad: str) -> dict[str, object]:
    return {
        "error": {
            "message": f"Fine-tune job {bad} is stored in a form this server cannot read "
            "(learning_rate: Input should be a valid number); it is left out of lists; "
            "deleting it removes it",
            "type": "invalid_request_error",
            "param": "id",
            "code": "record_unreadable",
        }
    }


def test_the_list_leaves_out_a_job_that_does_not_load(
    client: TestClient, jobs: tuple[str, str]
) -> None:
    good, _ = jobs
    listed = client.get("/v1/fine-tunes", headers=auth())
    assert listed.status_code == 200, listed.text
    assert [j["id"] for j in listed.json()["data"]] == [good]
    assert client.get(f"/v1/fine-tunes/{good}", headers=auth()).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/fine-tunes/{id}"),
        ("POST", "/v1/fine-tunes/{id}/cancel"),
        ("GET", "/v1/fine-tunes/{id}/events"),
        ("GET", "/v1/fine-tunes/{id}/checkpoints"),
        ("GET", "/v1/fine-tunes/{id}/metrics"),
    ],
)
def test_a_job_that_does_not_load_answers_a_409_naming_it(
    client: TestClient, jobs: tuple[str, str], method: str, path: str
) -> None:
    _, bad = jobs
    answer = client.request(method, path.format(id=bad), headers=auth())
    assert answer.status_code == 409, answer.text
    assert answer.json() == _unreadable(bad)
    assert client.get("/v1/fine-tunes", headers=auth()).status_code == 200


def test_a_job_that_does_not_load_can_be_deleted(client: TestClient, jobs: tuple[str, str]) -> None:
    good, bad = jobs
    deleted = client.delete(f"/v1/fine-tunes/{bad}", headers=auth())
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"message": f"Fine-tune job {bad} deleted", "id": bad, "deleted": True}
    assert client.get(f"/v1/fine-tunes/{bad}", headers=auth()).status_code == 404
    assert [j["id"] for j in client.get("/v1/fine-tunes", headers=auth()).json()["data"]] == [good]


def test_a_restart_serves_the_rest_and_still_names_the_broken_job(
    app: FastAPI, jobs: tuple[str, str], settings: Settings
) -> None:
    good, bad = jobs
    app.state.services.store.close()  # the first server stops ...
    restarted = create_app(settings, clock=ManualClock())
    try:
        with TestClient(restarted) as again:
            listed = again.get("/v1/fine-tunes", headers=auth())
            assert [j["id"] for j in listed.json()["data"]] == [good]
            assert again.get(f"/v1/fine-tunes/{bad}", headers=auth()).json() == _unreadable(bad)
            snapshot = again.get("/_sim/ui/api/snapshot")
            assert snapshot.status_code == 200, snapshot.text
            assert [j["id"] for j in snapshot.json()["jobs"]] == [good]
    finally:
        restarted.state.services.store.close()
