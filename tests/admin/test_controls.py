"""``/_sim/``: the clock, failures injected now or at a step, and reset. No key needed here (none
is configured; test_access.py has the keyed server). No control can leave the server broken: a
move of the clock it could not survive is refused before anything moves."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.core.errors import ServiceUnavailable
from tests.steps import QUICKSTART, advance, auth, conversations, create_job, jsonl, upload


def _job(client: TestClient) -> str:
    """A 10-step job: running at 30 s, step k at 50 + 3k s, done at 185 s."""
    train = upload(client, conversations(40))["id"]
    return str(create_job(client, train, packing=False, n_epochs=2)["id"])


def _status(client: TestClient, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).json()
    return body


def _events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get(
        f"/v1/fine-tunes/{job_id}/events", headers=auth()
    ).json()["data"]
    return events


def test_the_clock_starts_at_new_year_2026_and_moves_only_when_advanced(
    client: TestClient,
) -> None:
    assert client.get("/_sim/clock").json() == {
        "now": "2026-01-01T00:00:00.000000Z",
        "mode": "manual",
        "offset_seconds": 0.0,
        "speed": 1.0,
    }
    assert advance(client, 90) == {
        "now": "2026-01-01T00:01:30.000000Z",
        "mode": "manual",
        "offset_seconds": 90.0,
        "speed": 1.0,
    }
    assert advance(client, 0.5)["now"] == "2026-01-01T00:01:30.500000Z"


def test_the_clock_never_goes_back(client: TestClient) -> None:
    refused = client.post("/_sim/advance", json={"seconds": -1})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "seconds"
    assert client.get("/_sim/clock").json()["offset_seconds"] == 0.0


def _still_serves(client: TestClient) -> None:
    assert client.get("/v1/models", headers=auth()).status_code == 200
    assert upload(client, jsonl(QUICKSTART))["id"].startswith("file-")
    assert client.get("/v1/files", headers=auth()).status_code == 200


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b'{"seconds": 1e12}', "at most a century"),  # once a 500, and every request after it
        (b'{"seconds": 3153600001}', "at most a century"),
        (b'{"seconds": Infinity}', "finite number"),  # JSON's extensions parse as floats
        (b'{"seconds": -Infinity}', "finite number"),
        (b'{"seconds": NaN}', "finite number"),
        (b'{"seconds": 1e400}', "finite number"),
        (b'{"seconds": -1}', "greater than or equal to 0"),
    ],
)
def test_a_move_the_clock_could_not_survive_is_refused_and_the_server_goes_on(
    client: TestClient, body: bytes, complaint: str
) -> None:
    refused = client.post("/_sim/advance", content=body)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "seconds",
        None,
    )
    assert complaint in error["message"]
    assert client.get("/_sim/clock").json()["offset_seconds"] == 0.0
    _still_serves(client)


def test_an_advance_the_store_cannot_save_moves_nothing_and_is_a_503_to_retry(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the database locked: the offset cannot be saved, so the clock
    does not move either; the client's retry (after ``retry-after``) moves it once."""

    def locked(key: str, value: str) -> None:
        raise ServiceUnavailable("The simulator's database is locked by another process")

    monkeypatch.setattr(app.state.services.store, "set_meta", locked)
    refused = client.post("/_sim/advance", json={"seconds": 60})
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")
    assert client.get("/_sim/clock").json()["offset_seconds"] == 0.0
    monkeypatch.undo()
    assert advance(client, 60)["offset_seconds"] == 60.0


def test_the_clock_goes_at_most_a_century_ahead_in_all(client: TestClient) -> None:
    century = 100 * 365 * 86400
    assert advance(client, century - 60)["now"].startswith("2125-")
    refused = client.post("/_sim/advance", json={"seconds": 61})
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "seconds")
    assert advance(client, 60)["offset_seconds"] == century  # up to the horizon itself
    _still_serves(client)
    job = create_job(client, upload(client, conversations(40))["id"], packing=False)
    assert client.get(f"/v1/fine-tunes/{job['id']}", headers=auth()).status_code == 200


def test_a_failure_at_a_step_happens_when_the_job_reaches_it(client: TestClient) -> None:
    job_id = _job(client)
    scheduled = client.post(
        f"/_sim/jobs/{job_id}/fail", json={"at_step": 4, "message": "node lost"}
    )
    assert scheduled.status_code == 200
    assert scheduled.json()["status"] == "pending"
    advance(client, 61)
    assert _status(client, job_id)["status"] == "running"
    advance(client, 1)
    failed = _status(client, job_id)
    assert (failed["status"], failed["steps_completed"]) == ("error", 4)
    last = _events(client, job_id)[-1]
    assert (last["type"], last["level"], last["step"], last["message"]) == (
        "job_error",
        "error",
        4,
        "Job failed at step 4: node lost",
    )


def test_a_failure_now_ends_the_job_at_once(client: TestClient) -> None:
    job_id = _job(client)
    advance(client, 56)
    failed = client.post(f"/_sim/jobs/{job_id}/fail", json={"message": "CUDA out of memory"})
    assert failed.status_code == 200
    assert (failed.json()["status"], failed.json()["steps_completed"]) == ("error", 2)
    last = _events(client, job_id)[-1]
    assert (last["type"], last["message"], last["created_at"]) == (
        "job_error",
        "CUDA out of memory",
        "2026-01-01T00:00:56.000000Z",
    )
    advance(client, 1000)
    assert _status(client, job_id)["status"] == "error"


def test_a_user_error_ends_in_user_error(client: TestClient) -> None:
    job_id = _job(client)
    failed = client.post(f"/_sim/jobs/{job_id}/fail", json={"kind": "user_error"})
    assert failed.json()["status"] == "user_error"
    assert _events(client, job_id)[-1]["type"] == "job_user_error"


def test_a_failure_past_the_last_step_is_rejected(client: TestClient) -> None:
    job_id = _job(client)
    refused = client.post(f"/_sim/jobs/{job_id}/fail", json={"at_step": 11})
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": "at_step must be between 1 and 10 (got 11)",
        "type": "invalid_request_error",
        "param": "at_step",
        "code": None,
    }
    advance(client, 1000)
    assert _status(client, job_id)["status"] == "completed"


def test_a_finished_job_cannot_be_failed(client: TestClient) -> None:
    job_id = _job(client)
    advance(client, 1000)
    refused = client.post(f"/_sim/jobs/{job_id}/fail", json={})
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["message"] == f"job {job_id} is completed: it cannot become error"
    )


def test_failing_an_unknown_job_is_a_404(client: TestClient) -> None:
    assert client.post("/_sim/jobs/ft-nope/fail", json={}).status_code == 404


def test_reset_wipes_every_tenants_files_and_jobs(client: TestClient) -> None:
    job_id = _job(client)
    other = upload(client, conversations(8), key="other-key")["id"]
    reset = client.post("/_sim/reset")
    assert reset.status_code == 200
    assert reset.json() == {"reset": True}
    assert client.get("/v1/files", headers=auth()).json()["data"] == []
    assert client.get("/v1/fine-tunes", headers=auth()).json()["data"] == []
    assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).status_code == 404
    assert client.get(f"/v1/files/{other}", headers=auth("other-key")).status_code == 404


def test_reset_wipes_the_bytes_too(app: FastAPI, client: TestClient) -> None:
    file_id = upload(client, conversations(8))["id"]
    blobs, data_dir = app.state.services.blobs, app.state.services.store.data_dir
    blobs.part_path("file-half").write_bytes(b"half")
    (blobs.training_dir("ft-1") / "adapter").mkdir(parents=True)
    (data_dir / "artifacts").mkdir(exist_ok=True)
    (data_dir / "artifacts" / "cached.tar.zst").write_bytes(b"archive")
    assert client.post("/_sim/reset").status_code == 200
    assert not blobs.exists(file_id)
    assert not blobs.part_path("file-half").exists()
    assert not blobs.training_dir("ft-1").exists()
    assert list((data_dir / "artifacts").iterdir()) == []
    assert upload(client, conversations(8))["bytes"] > 0  # and the folders are there to write to
