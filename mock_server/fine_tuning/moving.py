"""The part of the fine-tuning service (``service.FineTuning``) that changes a job other than by
the clock: a cancel, a delete, a real training worker's reports and launch, and the ``/_sim``
controls (the trainer, a failure now or at a step). Each change is one write of the job brought
up to the clock (or, on the instant clock, as it was last read), after which the kept view is
forgotten and real training is told of a real job's change (``on_real_change``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mock_server.core.errors import InvalidRequest, InvalidTransition
from mock_server.fine_tuning.machine import advance, fail, inject_fault, request_cancel, set_trainer
from mock_server.fine_tuning.models import TERMINAL, Fault, Job, Transition
from mock_server.fine_tuning.models import InvalidTransition as _StateError
from mock_server.fine_tuning.reading import Reading, Trainer
from mock_server.fine_tuning.tokenized import archive_blob
from mock_server.store import UnreadableRecord

if TYPE_CHECKING:  # the real-training modules load on the first real job, not at startup
    from mock_server.fine_tuning.reports import Report

__all__ = ["Moving"]


class Moving(Reading):
    """Changes to jobs: cancel, delete, the worker's reports, the controls."""

    # -- moving -----------------------------------------------------------------------------------

    def _move(self, tenant: str, job_id: str, move: Any, *, as_last_read: bool = False) -> Job:
        """Apply ``move`` to the job brought up to the clock's time, or, with ``as_last_read``
        on the instant clock, to the job as it was last read (see ``cancel``)."""
        now = self.clock.now()
        skip_advance = as_last_read and self.timeline.is_instant

        def step(job: Job) -> Transition:
            advanced = Transition(job) if skip_advance else advance(job, now)
            try:
                moved: Transition = move(advanced.job, now)
            except _StateError as exc:
                raise InvalidTransition(str(exc), param="id") from exc
            return Transition(
                moved.job,
                advanced.events + moved.events,
                advanced.checkpoints + moved.checkpoints,
                advanced.metrics + moved.metrics,
            )

        try:
            return self.store.update_job(tenant, job_id, step)
        finally:  # after the write: a poll that read before it then keeps nothing
            self.views.forget(tenant, job_id)

    def _wake(self, job: Job) -> Job:
        """Tell real training a real job changed, so it starts or stops a worker now."""
        if job.trainer == "real":
            self.on_real_change()
        return job

    def cancel(self, tenant: str, job_id: str) -> Job:
        """Ask the job to stop. On the instant clock a job completes when it is read (retrieve,
        list, events, checkpoints, download), not by itself: a cancel acts on the job as it was
        last read, so one that comes before any read cancels it (``cancel_requested`` in the
        answer, ``cancelled`` from the next read), and one after a read finds it completed.
        Otherwise "create, then cancel" could never run on the fastest clock."""
        return self._wake(self._move(tenant, job_id, request_cancel, as_last_read=True))

    def delete_job(self, tenant: str, job_id: str) -> None:
        try:
            job: Job | None = self.store.get_job(tenant, job_id)
        except UnreadableRecord:  # deleting is how a user clears a job that does not load
            job = None
        self.store.delete_job(tenant, job_id)
        self.views.forget(tenant, job_id)  # after the delete, as in _move
        self.blobs.delete(archive_blob(job_id))  # its tokenized dataset, if one was asked for
        if job is None:
            return
        if job.trainer == "real" and job.status in TERMINAL:  # a live one's go when its worker ends
            self.blobs.delete_training_dir(job_id)
        self._wake(job)

    def apply_report(self, tenant: str, job_id: str, report: Report) -> Job:
        """One report of a job's training worker, as one transaction."""
        from mock_server.fine_tuning.progress import apply_report

        return self._move(tenant, job_id, lambda job, now: apply_report(job, report, now))

    def worker_launched(self, tenant: str, job_id: str) -> Job:
        from mock_server.fine_tuning.progress import launch

        return self._move(tenant, job_id, lambda job, now: launch(job))

    # -- the controls, which act outside tenants --------------------------------------------------

    def _tenant_of_job(self, job_id: str) -> str:
        return self.store.find_job_anywhere(job_id).tenant

    def set_trainer(self, job_id: str, trainer: Trainer) -> Job:
        tenant = self._tenant_of_job(job_id)
        return self._wake(
            self._move(
                tenant, job_id, lambda job, now: set_trainer(job, trainer), as_last_read=True
            )
        )

    def fail_job(
        self,
        job_id: str,
        *,
        kind: Literal["error", "user_error"],
        at_step: int | None,
        message: str,
    ) -> Job:
        tenant = self._tenant_of_job(job_id)
        if at_step is None:
            return self._wake(
                self._move(
                    tenant,
                    job_id,
                    lambda job, now: fail(job, now, message, kind=kind),
                    as_last_read=True,
                )
            )
        fault = Fault(kind=kind, at_step=at_step, message=message)

        def schedule_fault(job: Job, now: datetime) -> Transition:
            try:
                return inject_fault(job, fault, now)
            except ValueError as exc:
                raise InvalidRequest(str(exc), param="at_step") from exc

        return self._wake(self._move(tenant, job_id, schedule_fault, as_last_read=True))
