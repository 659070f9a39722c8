"""A real job outlives its server: the server stops while the worker trains, a new server on the
same data dir starts a new worker that resumes from the job's last checkpoint, and the job
completes with one metric point and one set of events per step, and an event saying it resumed.

The first server is stopped the way an app shuts down (its runner stops the worker before its next
step); ``tests/e2e/test_kill_and_restart.py`` kills one with SIGKILL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.fine_tuning.models import TERMINAL, Job
from mock_server.settings import ClockMode, Settings
from tests.steps import advance, auth, create_job, jsonl, upload
from tests.training.rows import chat_rows

pytestmark = pytest.mark.train

STARTS = 60  # seconds of the manual clock until training is due


def _app(data_dir: Path) -> FastAPI:
    settings = Settings(
        data_dir=data_dir,
        clock=ClockMode.manual,
        speed=1.0,
        api_keys=[],
        trainer="real",
        progress=False,
    )
    return create_app(settings, clock=ManualClock())


def _wait(app: FastAPI, job_id: str, done: Any, timeout: float = 300) -> Job:
    store = app.state.services.store
    assert app.state.services.real_training.runner().wait_for(
        lambda: done(store.find_job_anywhere(job_id)), timeout
    )
    job: Job = store.find_job_anywhere(job_id)
    return job


def test_a_real_job_resumes_from_its_checkpoint_after_a_restart(tmp_path: Path) -> None:
    first = _app(tmp_path / "data")
    with TestClient(first) as client:
        train = upload(client, jsonl(chat_rows(48)))["id"]
        # 6 steps an epoch, 60 in all, a checkpoint every 6 (10, the August spec's maximum):
        # stopped soon after the first one
        job_id = create_job(
            client, train, n_epochs=10, batch_size=8, packing=False, n_checkpoints=10
        )["id"]
        advance(client, STARTS)
        store = first.state.services.store
        _wait(first, job_id, lambda j: bool(store.list_checkpoints(j.id)))
    stopped = store.find_job_anywhere(job_id)
    resumed_at = max(c.step for c in store.list_checkpoints(job_id))
    store.close()
    assert (stopped.status, stopped.steps_completed < 60) == ("running", True)

    second = _app(tmp_path / "data")
    with TestClient(second) as client:
        done = _wait(second, job_id, lambda j: j.status in TERMINAL)
        assert done.status == "completed", done.failure_message
        events = client.get(f"/v1/fine-tunes/{job_id}/events", headers=auth()).json()["data"]
        metrics = client.get(f"/v1/fine-tunes/{job_id}/metrics", headers=auth()).json()["metrics"]
        listed = client.get(f"/v1/fine-tunes/{job_id}/checkpoints", headers=auth()).json()["data"]
    second.state.services.store.close()

    restarts = [e["message"] for e in events if e["type"] == "job_restarted"]
    assert restarts == [
        f"Training resumed from step {resumed_at} after a restart of the simulator (its "
        f"checkpoint at step {resumed_at})"
    ]
    assert [m["train/global_step"] for m in metrics] == [float(s) for s in range(1, 61)]
    assert [e["step"] for e in events if e["type"] == "epoch_complete"] == list(range(6, 61, 6))
    assert [e["type"] for e in events].count("training_start") == 1
    intermediate = sorted(c["step"] for c in listed if c["checkpoint_type"] == "Intermediate")
    assert intermediate == list(range(6, 60, 6))
