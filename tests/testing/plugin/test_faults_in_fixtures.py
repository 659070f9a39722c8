"""Bad days from the plugin's fixtures: a test installs faults or a whole scenario on
``together_sim`` (in-process) or ``together_sim_server`` (a socket), runs the application code
that builds its own client, and reads the journal of what was injected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.testing.plugin.tuning import start_fine_tune, status_of

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
QUICKSTART = [
    {"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}]}
]


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in QUICKSTART))
    return path


def test_code_under_test_rides_out_rate_limits_set_from_the_fixture(together_sim, tmp_path):
    together_sim.faults.add(
        id="busy", operation="POST /v1/fine-tunes", status=429, retry_after_ms=50, times=2
    )
    job_id, _ = start_fine_tune(_data(tmp_path), suffix="ok")
    assert status_of(job_id) == "pending"
    entries = together_sim.faults.journal.entries(rule="busy")
    assert [(e.fault, e.detail["status"], e.retry_count) for e in entries] == [
        ("status", 429, 0),
        ("status", 429, 1),
    ]


def test_a_scenario_from_the_fixture_kills_the_nightly_job(together_sim, tmp_path):
    together_sim.scenario(SCENARIOS / "job-dies-at-step-40.yaml")
    job_id, _ = start_fine_tune(_data(tmp_path), suffix="nightly-1", n_epochs=2)
    failed = together_sim.run_until(job_id, "error")
    assert (failed.steps_completed, failed.total_steps) == (2, 2)  # step 40 is past its last
    assert failed.failure_message == (
        "Job failed at step 2: CUDA out of memory: tried to allocate 2.00 GiB"
    )


def test_a_live_server_fixture_takes_faults_the_same_way(together_sim_server, tmp_path):
    down = {"id": "down", "operation": "GET /v1/fine-tunes/{id}", "status": 503,
            "retry_after_ms": 50, "times": 1}  # fmt: skip
    together_sim_server.scenario({"faults": [down]})
    job_id, _ = start_fine_tune(_data(tmp_path), suffix="live")
    assert status_of(job_id) == "pending"
    assert [e.rule for e in together_sim_server.faults.journal.entries()] == ["down"]


def test_in_process_a_reset_and_a_cut_body_reach_the_client_as_transport_errors(together_sim):
    import httpx
    import together

    together_sim.faults.add(id="cut", operation="GET /v1/files", truncate=0.5, times=3)
    together_sim.faults.add(id="rst", operation="GET /v1/fine-tunes", reset=True, times=3)
    client = together_sim.client(max_retries=0)
    with pytest.raises(together.APIConnectionError):
        client.fine_tuning.list()
    with httpx.Client(transport=together_sim.transport, base_url=together_sim.base_url) as raw:
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            raw.get("/v1/files", headers={"Authorization": f"Bearer {together_sim.api_key}"})
    assert {e.rule for e in together_sim.faults.journal.entries()} == {"cut", "rst"}
