"""``serve --workers 2 --trainer real``: the worker process whose runner trains a real job is
killed with SIGKILL after the job's first checkpoint; its training worker stops at the end of its
stdin, the job's lease expires unrenewed, and the other replica (or the one uvicorn started in the
dead one's place: whichever claims first) resumes the job from that checkpoint. The job completes
with one metric point per step and one event saying where it resumed: trained once, not twice.
"""

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

pytestmark = [pytest.mark.e2e, pytest.mark.train]

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
KEY = "takeover-key"


def _poll(done: Any, what: str, timeout: float = 300) -> None:
    """Wall time for a real worker and a lease to expire: poll as a user would."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)


def _server_of_training_worker(data_dir: Path) -> int:
    """The pid of the server process whose runner started the training worker of this data dir
    (the worker's parent): the replica that holds the job."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if b"mock_server.training.worker" in command and str(data_dir).encode() in b" ".join(
            command
        ):
            return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
    raise AssertionError("no training worker runs")


def test_a_real_job_moves_to_the_surviving_replica_and_resumes_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch")
    data_dir, port = tmp_path / "data", free_port()
    root = f"http://127.0.0.1:{port}"
    rows = write_jsonl(tmp_path / "train.jsonl", chat_rows(48))
    flags = ("--workers", "2", "--trainer", "real", "--no-progress", "--worker-threads", "1")
    with server_process(data_dir, port, *flags, stderr=tmp_path / "server.log") as supervisor:
        try:
            client = Together(api_key=KEY, base_url=root, max_retries=2)
            upload = client.files.upload(rows, purpose="fine-tune", check=True)
            # 6 steps an epoch, 60 in all, a checkpoint every 6 (as tests/e2e's kill -9 test)
            job = client.fine_tuning.create(
                training_file=upload.id, model=MODEL, n_epochs=10, n_checkpoints=10,
                batch_size=8, packing=False, train_on_inputs="auto",
            )  # fmt: skip
            httpx.post(f"{root}/_sim/advance", json={"seconds": 60})  # training is due
            _poll(lambda: client.fine_tuning.list_checkpoints(job.id).data, "checkpoint")
            holder = _server_of_training_worker(data_dir)
            os.kill(holder, signal.SIGKILL)

            ended = ("completed", "error", "user_error", "cancelled")
            _poll(lambda: client.fine_tuning.retrieve(job.id).status in ended, "end")
            done = client.fine_tuning.retrieve(job.id)
            events = client.fine_tuning.list_events(job.id).data
            metrics = httpx.get(
                f"{root}/v1/fine-tunes/{job.id}/metrics",
                headers={"Authorization": f"Bearer {KEY}"},
            ).json()["metrics"]
        finally:
            supervisor.send_signal(signal.SIGTERM)
            supervisor.wait(timeout=60)
    assert done.status == "completed", done
    restarted = [e.message for e in events if e.type == "job_restarted"]
    assert len(restarted) == 1 and restarted[0].startswith("Training resumed from step ")
    assert [e.type for e in events].count("training_start") == 1
    assert [m["train/global_step"] for m in metrics] == [float(s) for s in range(1, 61)]
