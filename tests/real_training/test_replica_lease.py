"""Two replicas on one data dir (``workers=2``: each app a server process of ``serve --workers``),
one real job: exactly one replica's runner trains it, a cancel sent to the other stops it where
it trains, and when the trainer stops renewing its lease the other takes the job over, as after a
restart, while the stalled one kills its worker and drops what it still reports.

No torch: the training worker is a stand-in process that waits for ``stop`` (or its stdin's end)
and reports nothing, so what is tested is the runner's leasing, not training
(``test_restart.py`` trains for real). Each runner's lease clock is a number the test moves.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.real_training import runner as runner_module
from mock_server.real_training.runner import TrainingRunner
from mock_server.settings import ClockMode, Settings
from tests.steps import advance, auth, conversations, create_job, upload

STARTS = 60  # seconds of the manual clock until training is due (as in test_restart.py)
TTL = 10.0

# Stops on "stop" or when the runner goes away, like the real worker, having reported nothing.
_STAND_IN = "import sys\nfor line in sys.stdin:\n    if line.strip() == 'stop':\n        break\n"


class LeaseClock:
    """A runner's wall clock for its leases, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[str]]]:
    """Every training worker a runner started, in order (stand-ins)."""
    procs: list[subprocess.Popen[str]] = []

    def stand_in(module: str, *args: str, log: Path | None, threads: int | None = None) -> Any:
        proc = subprocess.Popen(
            [sys.executable, "-c", _STAND_IN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        procs.append(proc)
        return proc

    monkeypatch.setattr(runner_module, "spawn_worker", stand_in)
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _replica(data_dir: Path, clock: ManualClock) -> FastAPI:
    settings = Settings(
        data_dir=data_dir,
        clock=ClockMode.manual,
        speed=1.0,
        api_keys=[],
        trainer="real",
        progress=False,
        workers=2,
    )
    return create_app(settings, clock=clock)


def _runner(app: FastAPI, lease_clock: LeaseClock) -> TrainingRunner:
    runner: TrainingRunner = app.state.services.real_training.runner()
    runner.leases.ttl = TTL
    runner.leases.clock = lease_clock
    return runner


def _until(runners: list[TrainingRunner], done: Callable[[], bool], timeout: float = 30) -> None:
    """Wait until ``done()``, nudging each runner to scan meanwhile."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        for runner in runners:
            runner.nudge()
            runner.wait_for(done, 0.2)


def _scanned(runners: list[TrainingRunner]) -> None:
    """Each runner has scanned the store at least twice from now."""
    for runner in runners:
        for _ in range(2):
            mark = runner._last_scan
            _until([runner], lambda r=runner, m=mark: r._last_scan > m)  # type: ignore[misc]


def _job(app: FastAPI, job_id: str) -> Job:
    job: Job = app.state.services.store.find_job_anywhere(job_id)
    return job


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    clock = ManualClock()  # one simulated time for both: what the shared clock offset gives
    a, b = _replica(tmp_path, clock), _replica(tmp_path, clock)
    with TestClient(a) as client_a, TestClient(b) as client_b:
        yield client_a, client_b


def _training(client: TestClient) -> str:
    job_id = str(create_job(client, upload(client, conversations(16))["id"], packing=False)["id"])
    advance(client, STARTS)
    return job_id


def test_one_replica_trains_a_real_job_and_a_cancel_sent_to_the_other_stops_it_there(
    replicas: tuple[TestClient, TestClient], spawned: list[subprocess.Popen[str]]
) -> None:
    client_a, client_b = replicas
    runners = [_runner(c.app, LeaseClock()) for c in replicas]  # type: ignore[arg-type]
    job_id = _training(client_a)
    _until(runners, lambda: any(r.worker_pid(job_id) for r in runners))
    _scanned(runners)
    assert len(spawned) == 1
    assert [r.worker_pid(job_id) for r in runners].count(None) == 1

    cancelled = client_b.post(f"/v1/fine-tunes/{job_id}/cancel", headers=auth())
    assert cancelled.status_code == 200, cancelled.text
    app_a: FastAPI = client_a.app  # type: ignore[assignment]
    _until(runners, lambda: _job(app_a, job_id).status is JobStatus.cancelled)
    assert spawned[0].wait(timeout=10) == 0  # told "stop", by the runner that started it
    assert len(spawned) == 1


def test_a_replica_that_stops_renewing_loses_the_job_to_the_other_which_restarts_it(
    replicas: tuple[TestClient, TestClient], spawned: list[subprocess.Popen[str]]
) -> None:
    client_a, _ = replicas
    clocks = [LeaseClock(), LeaseClock()]
    runners = [_runner(c.app, clock) for c, clock in zip(replicas, clocks, strict=True)]  # type: ignore[arg-type]
    job_id = _training(client_a)
    _until(runners, lambda: any(r.worker_pid(job_id) for r in runners))
    trainer = next(i for i, r in enumerate(runners) if r.worker_pid(job_id))
    other = 1 - trainer

    # The trainer's lease clock stands still (it stalls and renews nothing); the other's passes
    # the lease's expiry: it claims the job and starts a worker that goes on as after a restart.
    clocks[other].now += TTL + 1
    _until(runners, lambda: runners[other].worker_pid(job_id) is not None)
    assert len(spawned) == 2
    app_a: FastAPI = client_a.app  # type: ignore[assignment]
    events = app_a.state.services.store.list_events(job_id)
    assert [e.type for e in events].count("job_restarted") == 1

    # The stalled one wakes and goes to renew: the lease is the other's, so its worker is killed
    # and its exit is not the job's failure.
    clocks[trainer].now += TTL / 4
    _until(runners, lambda: runners[trainer].worker_pid(job_id) is None)
    assert spawned[0].wait(timeout=10) == -9
    _scanned(runners)
    assert _job(app_a, job_id).status is JobStatus.running
    assert runners[other].worker_pid(job_id) == spawned[1].pid
