"""Real training as one service: the runner (a worker process per real job) and the chat worker
that answers on a real job's output, both made on first use, so a server with only synthetic
jobs never imports them (nor starts a thread). A replica (``shared``) leases jobs under an owner
id of its own (``lease.replica_id``) and starts its runner with the app (``app.py``), to take
over the jobs of a replica that died."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.errors import NotFound
from mock_server.fine_tuning.models import JobStatus
from mock_server.fine_tuning.service import FineTuning
from mock_server.real_training.lease import LOCAL, replica_id

if TYPE_CHECKING:
    from mock_server.inference.models import Completion
    from mock_server.real_training.chat import RealModel
    from mock_server.real_training.runner import TrainingRunner
    from mock_server.store import BlobStore
    from mock_server.training.bases import BaseChoice

__all__ = ["RealTraining"]


class RealTraining:
    def __init__(
        self,
        jobs: FineTuning,
        blobs: BlobStore,
        *,
        model: str = "micro",
        model_map: Mapping[str, BaseChoice] | None = None,
        progress: IO[str] | None = None,
        threads: int | None = None,
        shared: bool = False,
    ) -> None:
        self.jobs = jobs
        self.blobs = blobs  # real jobs' training folders, their outputs among them
        self.model = model  # the stand-in a real job trains
        self.model_map = dict(model_map or {})  # model name -> base
        self.progress = progress  # where real jobs draw their progress lines
        self.threads = threads  # CPU threads per worker; None: torch's choice
        self.shared = shared  # other processes serve the same store: leases name this one
        self._runner: TrainingRunner | None = None
        self._lock = threading.Lock()

    def runner(self) -> TrainingRunner:
        """The runner, made on first use."""
        with self._lock:
            if self._runner is None:
                from mock_server.real_training.runner import TrainingRunner

                self._runner = TrainingRunner(
                    self.jobs,
                    self.blobs,
                    model=self.model,
                    progress=self.progress,
                    threads=self.threads,
                    model_map=self.model_map,
                    owner=replica_id() if self.shared else LOCAL,
                    watch=self.shared,
                )
            return self._runner

    def wake(self) -> None:
        """A real job changed (created, cancelled, deleted, its trainer set): act on it now."""
        self.runner().wake()

    def nudge(self) -> None:
        """The clock moved: a runner that exists looks again; none is made for it."""
        if self._runner is not None:
            self._runner.nudge()

    def reset(self) -> None:
        if self._runner is not None:
            self._runner.reset()

    def close(self) -> None:
        """Stop every worker (the app's shutdown)."""
        if self._runner is not None:
            self._runner.close()

    def model_of(self, tenant: str, name: str) -> RealModel | None:
        """Base and adapter (or full model) of a completed real job's output name, else None."""
        if catalogue.get(name) is not None:
            return None
        try:
            job = self.jobs.store.find_job_by_output_name(tenant, name)
        except NotFound:
            return None
        if job.trainer != "real" or job.status is not JobStatus.completed:
            return None
        from mock_server.real_training.chat import RealModel
        from mock_server.training.bases import recorded_base

        out = self.blobs.training_dir(job.id)
        if job.is_lora:
            return RealModel(model_dir=recorded_base(out), adapter_dir=out / "adapter")
        return RealModel(model_dir=out / "model", adapter_dir=None)

    def complete(self, model: RealModel, **request: Any) -> Completion:
        """Generate with a real job's model in the chat worker (blocking: call it from a
        thread)."""
        return self.runner().chat.complete(model, **request)
