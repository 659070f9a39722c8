"""``/_sim/jobs/{id}/trainer``: who trains a job can be chosen while it waits, and only then; and a
real job whose worker died with the previous server process, and whose folder is gone, fails on
restart (``test_real_restart.py`` resumes one that has it). No worker starts here: the clock never
reaches the start of training."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.cli import _parser
from mock_server.core.clock import ManualClock
from mock_server.fine_tuning.machine import advance as advance_job
from mock_server.fine_tuning.models import TERMINAL
from mock_server.fine_tuning.progress import launch
from mock_server.real_training.chat import worker_env
from mock_server.settings import ClockMode, Settings
from mock_server.store import SqliteStore
from tests.builders import T0, make_job
from tests.steps import advance, auth, conversations, create_job, upload


def _pending_job(client: TestClient) -> str:
    return str(create_job(client, upload(client, conversations(16))["id"], packing=False)["id"])


def test_a_waiting_job_can_be_handed_to_the_real_trainer_and_back(client: TestClient) -> None:
    job_id = _pending_job(client)
    chosen = client.post(f"/_sim/jobs/{job_id}/trainer", json={"trainer": "real"})
    assert chosen.status_code == 200
    assert (chosen.json()["trainer"], chosen.json()["status"]) == ("real", "pending")
    advance(client, 10)  # queued: still allowed
    back = client.post(f"/_sim/jobs/{job_id}/trainer", json={"trainer": "synthetic"})
    assert (back.status_code, back.json()["trainer"]) == (200, "synthetic")
    assert "trainer" not in client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).json()


def test_a_running_job_keeps_its_trainer(client: TestClient) -> None:
    job_id = _pending_job(client)
    advance(client, 31)
    refused = client.post(f"/_sim/jobs/{job_id}/trainer", json={"trainer": "real"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        f"job {job_id} is running: it cannot become a real-trainer job (only while pending or "
        "queued)"
    )


def test_an_unknown_trainer_is_a_400_naming_the_field(client: TestClient) -> None:
    refused = client.post(f"/_sim/jobs/{_pending_job(client)}/trainer", json={"trainer": "gpu"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "trainer"


def test_a_synthetic_job_has_no_stand_in_base_to_download(client: TestClient) -> None:
    assert client.get(f"/_sim/jobs/{_pending_job(client)}/base").status_code == 404


def test_the_cli_sets_a_jobs_trainer_and_the_servers_default() -> None:
    args = _parser().parse_args(["trainer", "ft-1", "real", "--url", "http://sim"])
    assert (args.job_id, args.trainer, args.url) == ("ft-1", "real", "http://sim")
    serve = _parser().parse_args(["serve", "--trainer", "real", "--real-model", "small"])
    assert (serve.trainer, serve.real_model) == ("real", "small")


def test_workers_get_the_cpu_threads_the_server_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    serve = _parser().parse_args(["serve", "--worker-threads", "1"])
    assert serve.worker_threads == 1
    monkeypatch.setenv("TOGETHER_SIM_WORKER_THREADS", "3")
    assert Settings().worker_threads == 3
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings(worker_threads=0)
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    assert worker_env(2)["OMP_NUM_THREADS"] == worker_env(2)["MKL_NUM_THREADS"] == "2"
    assert worker_env()["OMP_NUM_THREADS"] == "8"  # unset: the server's own environment


def test_a_real_job_left_training_without_its_folder_ends_in_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data")
    later = T0 + timedelta(minutes=5)
    job = launch(advance_job(make_job(trainer="real"), later).job).job
    store.create_job(job, [])
    store.close()

    settings = Settings(data_dir=tmp_path / "data", clock=ClockMode.manual, progress=False)
    app = create_app(settings, clock=ManualClock(start=later))
    services = app.state.services
    with TestClient(app):
        found = lambda: services.store.find_job_anywhere(job.id)  # noqa: E731
        assert services.real_training.runner().wait_for(lambda: found().status in TERMINAL, 10)
        assert found().status == "error"
        assert found().failure_message == (
            "Training was interrupted by a restart of the simulator, and the job's worker spec "
            "is gone"
        )
