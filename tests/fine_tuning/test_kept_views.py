"""Polls of a job are answered from a kept body until the job's next change: the answer must
be the same bytes a fresh read would give, at every moment, through cancels and deletes."""

from __future__ import annotations

import json
import random

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.steps import advance, auth, conversations, create_job, upload


def _fresh(app: FastAPI, client: TestClient, job_id: str) -> bytes:
    app.state.services.fine_tuning.views.clear()  # what the server would answer with nothing kept
    return client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).content


def test_a_kept_answer_is_always_the_answer_a_fresh_read_gives(
    app: FastAPI, client: TestClient
) -> None:
    train = upload(client, conversations(400))["id"]
    job_id = create_job(client, train, packing=False, n_epochs=2, n_checkpoints=3)["id"]
    rng = random.Random(0)
    statuses = set()
    for _ in range(300):
        polled = client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).content
        again = client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).content  # likely kept
        assert again == polled == _fresh(app, client, job_id)
        statuses.add(client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).json()["status"])
        advance(client, rng.choice([0.0, 0.25, 0.5, 1.0, 2.5, 7.0]))
    assert {"queued", "running"} <= statuses  # the walk went through the live states


def test_a_cancel_is_seen_by_the_very_next_poll(client: TestClient) -> None:
    train = upload(client, conversations(400))["id"]
    job_id = create_job(client, train, packing=False)["id"]
    advance(client, 60)
    assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).json()["status"] == "running"
    assert client.post(f"/v1/fine-tunes/{job_id}/cancel", headers=auth()).status_code == 200
    polled = client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).json()
    assert polled["status"] == "cancel_requested"


def test_an_injected_failure_is_seen_by_the_very_next_poll(client: TestClient) -> None:
    train = upload(client, conversations(400))["id"]
    job_id = create_job(client, train, packing=False)["id"]
    advance(client, 60)
    assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).json()["status"] == "running"
    failed = client.post(f"/_sim/jobs/{job_id}/fail", json={"kind": "user_error"})
    assert failed.status_code == 200
    assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).json()["status"] == "user_error"


def test_a_list_shows_every_job_as_a_fresh_read_would_at_every_moment(
    app: FastAPI, client: TestClient
) -> None:
    """Listing takes a job as stored while it cannot have moved (``KeptViews.still``): the list
    must still equal what each job's own fresh read gives, through steps, milestones and cancels."""
    train = upload(client, conversations(400))["id"]
    ids = [create_job(client, train, packing=False)["id"] for _ in range(3)]
    rng = random.Random(1)
    statuses = set()
    for turn in range(120):
        listed = client.get("/v1/fine-tunes", headers=auth()).json()["data"]
        for job in listed:
            fresh = _fresh(app, client, job["id"]).decode()
            for key in ("status", "steps_completed", "updated_at", "progress"):
                assert job[key] == json.loads(fresh)[key], (turn, key)
            statuses.add(job["status"])
        if turn == 60:
            client.post(f"/v1/fine-tunes/{ids[0]}/cancel", headers=auth())
        advance(client, rng.choice([0.0, 0.5, 1.0, 3.0, 9.0]))
    assert {"queued", "running", "cancelled"} <= statuses
