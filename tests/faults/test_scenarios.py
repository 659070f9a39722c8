"""The scenario files shipped in ``scenarios/``, each replayed over the in-process app on the
manual clock: the job and file behaviours they describe happen at the times the plan says.
(``rate-limited-upload`` and ``flaky-monitoring`` are faults for retrying clients: the e2e tests
run the real SDKs through them.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.faults.scenarios import ScenarioError, load_scenario
from mock_server.settings import Settings
from tests.steps import QUICKSTART, advance, auth, conversations, create_job, jsonl, upload

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@contextmanager
def _scenario_client(tmp_path: Path, name: str) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", clock="manual", speed=1.0, api_keys=[], admin_key=None,
        faults=SCENARIOS / f"{name}.yaml",
    )  # fmt: skip
    app = create_app(settings, clock=ManualClock())
    with TestClient(app) as client:
        yield client
    app.state.services.store.close()


def _job(client: TestClient, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).json()
    return body


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_and_is_named_after_its_file(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.faults or scenario.jobs or scenario.files


def test_a_scenario_with_a_misspelt_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text("jobs:\n  - {sufix: nightly, fail: {at_step: 3}}\n")
    with pytest.raises(ScenarioError, match=r"typo.yaml: jobs.0.sufix: Extra inputs"):
        load_scenario(bad)


def test_job_dies_at_step_40_fails_the_nightly_job_there(tmp_path: Path) -> None:
    with _scenario_client(tmp_path, "job-dies-at-step-40") as client:
        train = upload(client, conversations(80))["id"]  # 10 steps an epoch
        nightly = create_job(client, train, packing=False, n_epochs=5, suffix="nightly-7")["id"]
        adhoc = create_job(client, train, packing=False, n_epochs=5, suffix="adhoc")["id"]
        advance(client, 50 + 3 * 40 - 0.5)
        assert (_job(client, nightly)["status"], _job(client, nightly)["steps_completed"]) == (
            "running",
            39,
        )
        advance(client, 0.5)
        failed = _job(client, nightly)
        assert (failed["status"], failed["steps_completed"], failed["total_steps"]) == (
            "error", 40, 50,
        )  # fmt: skip
        events = client.get(f"/v1/fine-tunes/{nightly}/events", headers=auth()).json()["data"]
        assert (events[-1]["type"], events[-1]["step"], events[-1]["message"]) == (
            "job_error",
            40,
            "Job failed at step 40: CUDA out of memory: tried to allocate 2.00 GiB",
        )
        advance(client, 1000)
        assert _job(client, adhoc)["status"] == "completed"


def test_stuck_in_queue_holds_the_next_job_and_its_cancel_takes_ten_minutes(
    tmp_path: Path,
) -> None:
    with _scenario_client(tmp_path, "stuck-in-queue") as client:
        train = upload(client, jsonl(QUICKSTART))["id"]
        stuck = create_job(client, train)["id"]
        normal = create_job(client, train)["id"]
        advance(client, 7 * 86400)
        assert (_job(client, stuck)["status"], _job(client, normal)["status"]) == (
            "queued",
            "completed",
        )
        cancelled = client.post(f"/v1/fine-tunes/{stuck}/cancel", headers=auth())
        assert cancelled.json()["status"] == "cancel_requested"
        advance(client, 599)
        assert _job(client, stuck)["status"] == "cancel_requested"
        advance(client, 1)
        assert _job(client, stuck)["status"] == "cancelled"
        assert client.get("/_sim/scenario").json()["jobs"][0]["remaining"] == 0


def test_rejected_training_file_fails_validation_and_the_job_is_refused(tmp_path: Path) -> None:
    with _scenario_client(tmp_path, "rejected-training-file") as client:
        broken = upload(client, jsonl(QUICKSTART), name="train-broken.jsonl")
        assert (broken["processing_status"], broken["validation_report"]["line_number"]) == (
            "INVALID_FORMAT",
            3,
        )
        refused = client.post(
            "/v1/fine-tunes",
            headers=auth(),
            json={"training_file": broken["id"], "model": "meta-llama/Llama-3.2-3B-Instruct"},
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == (
            f"File {broken['id']} failed validation (line 3): "
            "Line 3: the assistant message is missing 'content'"
        )
        same_rows = upload(client, jsonl(QUICKSTART), name="train.jsonl")
        assert same_rows["processing_status"] == "COMPLETED"


def test_a_scenario_is_put_in_force_at_run_time_and_cleared(client: TestClient) -> None:
    scenario = yaml.safe_load((SCENARIOS / "rate-limited-upload.yaml").read_text())
    loaded = client.post("/_sim/scenario", json=scenario)
    assert [r["id"] for r in loaded.json()["faults"]] == ["upload-429", "preprocess-503"]
    form = {"purpose": (None, "fine-tune"), "file_name": (None, "train.jsonl")}
    statuses = [
        client.post("/v1/files", headers=auth(), files=form, follow_redirects=False).status_code
        for _ in range(3)
    ]
    assert statuses == [429, 429, 302]
    refused = client.post("/_sim/scenario", json={"jobs": [{"suffix": "x"}]})
    assert refused.status_code == 400
    assert "jobs.0: Value error, a job behaviour needs fail" in refused.json()["error"]["message"]
    assert client.delete("/_sim/scenario").json() == {"faults": [], "jobs": [], "files": []}
    assert client.get("/_sim/faults").json()["data"] == []
