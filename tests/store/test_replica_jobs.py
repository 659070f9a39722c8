"""Jobs created, read and cancelled through two replicas at once (two apps on one database:
SQLite's file, or PostgreSQL): every acknowledged job is there once on both, each cancel is
carried out once whichever replica took it, and no replica's save overwrites another's."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from tests.steps import QUICKSTART, advance, auth, create_job, jsonl, upload
from tests.store.conftest import Replicas

JOBS = 12


def _events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/fine-tunes/{job_id}/events", headers=auth())
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_creates_and_cancels_through_both_replicas_at_once_lose_nothing_and_happen_once(
    replicas: Replicas,
) -> None:
    a, b = replicas()
    file_id = upload(a, jsonl(QUICKSTART))["id"]
    through = [(a, b)[i % 2] for i in range(JOBS)]  # the replica each job is created through

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda i: create_job(through[i], file_id), range(JOBS)))
    ids = [job["id"] for job in made]
    assert len(set(ids)) == JOBS

    def cancel(i: int) -> int:  # through the other replica, while the creator reads the job
        other = b if through[i] is a else a
        return other.post(f"/v1/fine-tunes/{ids[i]}/cancel", headers=auth()).status_code

    def read(i: int) -> int:
        return through[i].get(f"/v1/fine-tunes/{ids[i]}", headers=auth()).status_code

    with ThreadPoolExecutor(8) as pool:
        cancels = pool.map(cancel, range(JOBS))
        reads = pool.map(read, range(JOBS))
        assert list(cancels) == [200] * JOBS
        assert list(reads) == [200] * JOBS

    advance(b, 24 * 3600)
    for client in (a, b):
        listed = client.get("/v1/fine-tunes", headers=auth()).json()["data"]
        assert Counter(job["id"] for job in listed) == Counter(ids)
        assert {job["status"] for job in listed} == {"cancelled"}
    for job_id in ids:
        on_a, on_b = _events(a, job_id), _events(b, job_id)
        assert on_a == on_b
        kinds = Counter(event["type"] for event in on_a)
        assert kinds["job_stopped"] == 1, kinds  # one cancel carried out, not one per replica
        assert kinds["job_complete"] == 0
