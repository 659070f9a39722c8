"""A training worker's report that meets a database another process holds locked (a 503 from the
store) is applied once the lock goes, never dropped: the runner's thread tries it again, and the
worker's later reports wait behind it. Only a runner that is closing gives up."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mock_server.core.errors import ServiceUnavailable
from mock_server.real_training.runner import TrainingRunner
from mock_server.store import LocalBlobStore
from tests.builders import worker_step


class _LockedAtFirst:
    """Fine-tuning as the runner sees it, whose store refuses the first ``refusals`` writes."""

    def __init__(self, data_dir: Path, refusals: int) -> None:
        self.store = SimpleNamespace(data_dir=data_dir)
        self.refusals = refusals
        self.applied: list[Any] = []

    def apply_report(self, tenant: str, job_id: str, report: Any) -> str:
        if self.refusals:
            self.refusals -= 1
            raise ServiceUnavailable("The simulator's database is locked by another process")
        self.applied.append(report)
        return f"{job_id} moved"


def test_a_report_refused_for_a_locked_database_is_applied_once_it_is_free(
    tmp_path: Path,
) -> None:
    jobs = _LockedAtFirst(tmp_path, refusals=2)
    runner = TrainingRunner(jobs, LocalBlobStore(tmp_path))  # type: ignore[arg-type]
    step = worker_step(3, 1.25)
    assert runner._report("tenant-a", "ft-1", step) == "ft-1 moved"
    assert jobs.applied == [step]  # once, after the two refusals


def test_a_closing_runner_does_not_wait_for_the_lock(tmp_path: Path) -> None:
    jobs = _LockedAtFirst(tmp_path, refusals=1)
    runner = TrainingRunner(jobs, LocalBlobStore(tmp_path))  # type: ignore[arg-type]
    runner._closing = True
    assert runner._report("tenant-a", "ft-1", worker_step(3, 1.25)) is None
    assert jobs.applied == []
