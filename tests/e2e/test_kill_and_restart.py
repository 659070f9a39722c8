"""The server is killed with SIGKILL mid-job and started again on the same data dir: the SDK
finds every file, job, event and checkpoint, and the job carries on where the clock says. A job
trained for real carries on too: a new worker resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from together import Together

from tests.e2e.conftest import write_jsonl
from tests.serve_process import free_port, server_process
from tests.training.rows import chat_rows

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def test_a_job_survives_kill_9_and_continues_where_the_clock_says(
    tmp_path: Path, quickstart_file: Path
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    with server_process(data_dir, port) as first:
        client = Together(api_key="restart-key", base_url=base, max_retries=0)
        upload = client.files.upload(quickstart_file, purpose="fine-tune", check=True)
        job = client.fine_tuning.create(
            training_file=upload.id,
            model=MODEL,
            n_epochs=3,
            suffix="restart",
            train_on_inputs="auto",
        )
        # Training starts 50 s in at speed 1 (queue 5, start 25, downloads 20); a step is 3 s.
        httpx.post(f"{base}/_sim/advance", json={"seconds": 54})
        before = client.fine_tuning.retrieve(job.id)
        events_before = [e.type for e in client.fine_tuning.list_events(job.id).data]
        assert (before.status, before.steps_completed) == ("running", 1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

    with server_process(data_dir, port):
        client = Together(api_key="restart-key", base_url=base, max_retries=0)
        assert [f.id for f in client.files.list().data] == [upload.id]
        again = client.fine_tuning.retrieve(job.id)
        assert again.status == "running"
        assert again.x_model_output_name == before.x_model_output_name
        assert [e.type for e in client.fine_tuning.list_events(job.id).data] == events_before
        clock = httpx.get(f"{base}/_sim/clock").json()
        assert clock["offset_seconds"] == 54.0  # the manual clock's time was kept

        httpx.post(f"{base}/_sim/advance", json={"seconds": 3600})
        done = client.fine_tuning.retrieve(job.id)
        assert done.status == "completed"
        types = [e.type for e in client.fine_tuning.list_events(job.id).data]
        assert types[: len(events_before)] == events_before
        assert types[-1] == "job_complete"
        assert {c.checkpoint_type for c in client.fine_tuning.list_checkpoints(job.id).data} == {
            "Final Merged",
            "Final Adapter",
        }


def _poll(done: Any, what: str, timeout: float = 300) -> None:
    """Wall time for a real worker: poll as a user would."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)


@pytest.mark.train
def test_a_real_job_survives_kill_9_and_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    rows = write_jsonl(tmp_path / "train.jsonl", chat_rows(48))
    with server_process(data_dir, port, "--trainer", "real", "--no-progress") as first:
        client = Together(api_key="restart-key", base_url=base, max_retries=0)
        upload = client.files.upload(rows, purpose="fine-tune", check=True)
        # 6 steps an epoch, 60 in all, a checkpoint every 6 (10, the August spec's maximum)
        job = client.fine_tuning.create(
            training_file=upload.id,
            model=MODEL,
            n_epochs=10,
            n_checkpoints=10,
            batch_size=8,
            packing=False,
            train_on_inputs="auto",
        )
        httpx.post(f"{base}/_sim/advance", json={"seconds": 60})  # training is due
        _poll(lambda: client.fine_tuning.list_checkpoints(job.id).data, "checkpoint")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

    with server_process(data_dir, port, "--trainer", "real", "--no-progress"):
        client = Together(api_key="restart-key", base_url=base, max_retries=0)
        ended = ("completed", "error", "user_error", "cancelled")
        _poll(lambda: client.fine_tuning.retrieve(job.id).status in ended, "end")
        assert client.fine_tuning.retrieve(job.id).status == "completed"
        events = client.fine_tuning.list_events(job.id).data
        restarted = [e.message for e in events if e.type == "job_restarted"]
        assert len(restarted) == 1 and restarted[0].startswith("Training resumed from step ")
        metrics = httpx.get(
            f"{base}/v1/fine-tunes/{job.id}/metrics",
            headers={"Authorization": "Bearer restart-key"},
        ).json()["metrics"]
        assert [m["train/global_step"] for m in metrics] == [float(s) for s in range(1, 61)]
