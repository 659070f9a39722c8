"""The ``together_sim`` fixture as a user's test suite meets it: code that builds its own
``Together()`` is served in-process, and the test steps the simulator's clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from together import Together

from mock_server.core.clock import utc
from tests.testing.plugin.tuning import (
    MODEL,
    ask,
    ask_async,
    event_types,
    start_fine_tune,
    status_of,
)

QUICKSTART = [
    {
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "What is AI?"},
            {"role": "assistant", "content": "AI is artificial intelligence."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
        ]
    },
]

SEED_EVENTS = [
    "job_pending",
    "job_start",
    "model_download_complete",
    "training_data_download_complete",
    "training_start",
    "epoch_complete",
    "training_complete",
    "model_uploading",
    "model_compressing",
    "model_compression_complete",
    "model_upload_complete",
    "job_complete",
]


@pytest.fixture
def training_file(tmp_path: Path) -> Path:
    path = tmp_path / "training_data.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in QUICKSTART), encoding="utf-8")
    return path


def test_code_that_builds_its_own_client_runs_the_seed_workflow(together_sim, training_file):
    job_id, output_name = start_fine_tune(training_file, suffix="demo")

    assert [f.filename for f in together_sim.files()] == ["training_data.jsonl"]
    assert status_of(job_id) == "pending"
    together_sim.advance(5)  # the queue phase of the real service's timeline
    assert status_of(job_id) == "queued"

    running = together_sim.run_until(job_id, "running")
    assert running.status == "running"
    assert together_sim.now() - running.updated_at < timedelta(milliseconds=1)
    with pytest.raises(Exception, match="not available|Unable to access model"):
        ask(output_name, "hi")  # an unfinished job's model does not answer yet

    completed = together_sim.run_until(job_id)
    assert status_of(job_id) == "completed"
    assert event_types(job_id) == SEED_EVENTS
    assert [e.type for e in together_sim.events(job_id)] == SEED_EVENTS
    assert ask(output_name, "What is AI?")
    assert completed.model_output_name == output_name


def test_the_fixture_client_shares_the_tenant_of_the_code_under_test(together_sim, training_file):
    job_id, _ = start_fine_tune(training_file, suffix="shared")

    listed = together_sim.client().fine_tuning.list().data or []

    assert [job.id for job in listed] == [job_id]
    assert [job.id for job in together_sim.jobs()] == [job_id]


@pytest.fixture
def real_credentials(monkeypatch):
    """What a developer's shell may hold."""
    monkeypatch.setenv("TOGETHER_API_KEY", "a-real-key")
    monkeypatch.setenv("TOGETHER_BASE_URL", "https://api.together.ai/")


def test_no_real_key_or_url_of_the_environment_reaches_the_code(real_credentials, together_sim):
    assert os.environ["TOGETHER_API_KEY"] == together_sim.api_key
    assert os.environ["TOGETHER_BASE_URL"] == together_sim.base_url  # served in-process
    assert Together().fine_tuning.list().data == []


def test_each_test_gets_an_empty_simulator_at_the_start_of_its_clock(together_sim):
    # The tests above uploaded files, created jobs and moved their clocks.
    assert together_sim.files() == []
    assert together_sim.jobs() == []
    assert together_sim.now() == utc(2026, 1, 1)


def test_a_failure_injected_at_a_step_ends_the_job_there(together_sim, training_file):
    job_id, _ = start_fine_tune(training_file, suffix="flaky", n_epochs=3)

    together_sim.fail(job_id, kind="user_error", at_step=2, message="bad row")
    failed = together_sim.run_until(job_id, "user_error")

    assert (failed.status, failed.steps_completed, failed.total_steps) == ("user_error", 2, 3)
    assert status_of(job_id) == "user_error"
    assert event_types(job_id)[-1] == "job_user_error"
    with pytest.raises(AssertionError, match=f"job {job_id} ended user_error before reaching"):
        together_sim.run_until(job_id, "completed")


@pytest.mark.together_sim(clock="instant")
def test_the_instant_clock_finishes_a_job_by_its_first_read(together_sim, training_file):
    job_id, output_name = start_fine_tune(training_file, suffix="quick")

    assert status_of(job_id) == "completed"
    assert ask(output_name, "hi")


@pytest.mark.together_sim(intercept=False)
def test_with_interception_off_the_test_can_mock_together_itself(
    together_sim, respx_mock, training_file
):
    respx_mock.get("https://api.together.ai/v1/files").respond(json={"data": []})
    uploaded = together_sim.client().files.upload(training_file, purpose="fine-tune")

    assert Together().files.list().data == []  # answered by the test's own respx route
    assert respx_mock.calls.call_count == 1
    assert [f.id for f in together_sim.client().files.list().data] == [uploaded.id]


@pytest.mark.anyio
async def test_async_clients_reach_the_same_simulator(together_sim, training_file):
    async with together_sim.async_client() as client:
        upload = await client.files.upload(training_file, purpose="fine-tune", check=True)
        job = await client.fine_tuning.create(training_file=upload.id, model=MODEL, lora=True)

    together_sim.run_until(job.id)

    # AsyncTogether's create() answers a FinetuneResponse, where the name is x_model_output_name.
    assert job.x_model_output_name is not None
    assert await ask_async(job.x_model_output_name, "What is AI?")  # an AsyncTogether() of its own
    assert [f.id for f in together_sim.files()] == [upload.id]


def test_the_plugin_imports_nothing_heavy():
    # pytest loads it into every run of an environment that has the package.
    code = (
        "import sys, mock_server.testing.pytest_plugin; "
        "print(sorted(m for m in ('fastapi', 'together', 'respx', 'httpx', 'uvicorn', "
        "'mock_server.app') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
