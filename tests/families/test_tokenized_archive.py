"""A job's tokenized-dataset archive is built once however many ask at once, off the event loop,
and goes with its job: removed by the job's delete and by ``/_sim/reset``."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.families import fine_tune_data
from mock_server.fine_tuning.tokenized import archive_blob
from tests.families.test_fine_tune_data import ROWS, TOKENIZED
from tests.spec_calls import Api
from tests.steps import advance, auth, create_job, jsonl, upload


def _started_job(client: TestClient) -> dict[str, Any]:
    job = create_job(client, upload(client, jsonl(ROWS))["id"])
    advance(client, 10**6)
    return job


def _blob(client: TestClient, job_id: str) -> Path:
    path: Path = client.app.state.services.blobs.path(archive_blob(job_id))  # type: ignore[attr-defined]
    return path


def test_simultaneous_first_asks_build_the_archive_once_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _started_job(client)
    builds: list[str] = []
    real = fine_tune_data.write_archive
    started = threading.Event()

    def counted(*args: Any) -> None:
        with pytest.raises(RuntimeError):  # no event loop runs in this thread
            asyncio.get_running_loop()
        builds.append(threading.current_thread().name)
        started.set()
        threading.Event().wait(0.2)  # long enough for the other asks to arrive meanwhile
        real(*args)

    monkeypatch.setattr(fine_tune_data, "write_archive", counted)
    api = Api(client)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: api.call(TOKENIZED, id=job["id"]), range(4)))
    assert len(builds) == 1
    assert len({a["size"] for a in answers}) == 1


def test_the_archive_goes_with_its_job(client: TestClient) -> None:
    job = _started_job(client)
    Api(client).call(TOKENIZED, id=job["id"])
    assert _blob(client, job["id"]).is_file()
    deleted = client.delete(f"/v1/fine-tunes/{job['id']}", headers=auth())
    assert deleted.status_code == 200, deleted.text
    assert not _blob(client, job["id"]).exists()


def test_the_archive_goes_with_a_reset(client: TestClient) -> None:
    job = _started_job(client)
    Api(client).call(TOKENIZED, id=job["id"])
    assert client.post("/_sim/reset").status_code == 200
    assert not _blob(client, job["id"]).exists()
