"""The ``together_sim_server`` fixture: a simulator on 127.0.0.1 for clients that need a socket,
stepped by the test through the ``/_sim`` controls."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.testing.plugin.test_in_process import QUICKSTART, SEED_EVENTS
from tests.testing.plugin.tuning import ask, event_types, start_fine_tune, status_of

REPO = Path(__file__).resolve().parents[3]
V1_PYTHON = REPO / ".venv-v1" / "bin" / "python"

pytestmark = pytest.mark.e2e

# The 1.5.x SDK's own upper-case names, which the simulator answers its User-Agent with.
V1_SEED_EVENTS = [
    "JOB_PENDING",
    "JOB_START",
    "MODEL_DOWNLOAD_COMPLETE",
    "TRAINING_DATA_DOWNLOAD_COMPLETE",
    "TRAINING_START",
    "EPOCH_COMPLETE",
    "TRAINING_COMPLETE",
    "MODEL_UPLOADING",
    "COMPRESSING_MODEL",
    "MODEL_COMPRESSION_COMPLETE",
    "MODEL_UPLOAD_COMPLETE",
    "JOB_COMPLETE",
]


@pytest.fixture
def training_file(tmp_path: Path) -> Path:
    path = tmp_path / "training_data.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in QUICKSTART), encoding="utf-8")
    return path


def test_the_3x_sdk_finds_the_server_through_the_environment(together_sim_server, training_file):
    assert os.environ["TOGETHER_BASE_URL"] == together_sim_server.base_url  # 3.x takes the root

    job_id, output_name = start_fine_tune(training_file, suffix="live")
    assert status_of(job_id) == "pending"
    together_sim_server.run_until(job_id)  # POST /_sim/advance, one status change at a time

    assert status_of(job_id) == "completed"
    assert event_types(job_id) == SEED_EVENTS
    assert ask(output_name, "What is AI?")
    assert together_sim_server.sim("GET", "/clock")["offset_seconds"] > 0


def test_each_live_server_starts_empty(together_sim_server):
    assert together_sim_server.client().fine_tuning.list().data == []
    assert together_sim_server.files() == []


@pytest.mark.skipif(not V1_PYTHON.exists(), reason="SDK 1.5.35 is not installed in .venv-v1")
def test_the_1_5_sdk_runs_against_the_server_the_test_steps(
    together_sim_server, training_file, tmp_path
):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TOGETHER_NO_BANNER": "1",
        "TOGETHER_API_KEY": together_sim_server.api_key,
        "TOGETHER_BASE_URL": together_sim_server.v1_base_url,  # 1.5.x paths are relative to /v1
    }

    def v1(*args: str) -> Any:
        script = Path(__file__).with_name("v1_client.py")
        done = subprocess.run(
            [str(V1_PYTHON), str(script), *args], env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    started = v1("start", str(training_file))
    assert started["status"] == "pending"
    together_sim_server.run_until(started["job_id"])
    finished = v1("finish", started["job_id"])

    assert finished["status"] == "completed"
    assert finished["events"] == V1_SEED_EVENTS
    assert finished["answer"]
