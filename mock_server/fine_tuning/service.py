"""The fine-tuning service, in the manner of a moto backend: the pure job machine, the request
checks and the views tied to the store, the clock and the ids.

It receives only what it uses: the store, the blob store (a deleted real job's folder goes with
it), the clock, the ids, the timeline, the files service (training files are validated through
it), a scenario's say on new jobs, and a hook that tells real training a real job changed
(``RealTraining.wake``, wired in ``app.py``; real training sits above this service and calls it
for jobs and reports). Routes translate HTTP into one call here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.clock import Clock
from mock_server.core.errors import InvalidRequest, InvalidTransition, NotFound
from mock_server.core.ids import IdSource
from mock_server.core.wire import json_body
from mock_server.files.models import FileRecord
from mock_server.files.service import FileService
from mock_server.fine_tuning.create import (
    Context,
    check_dataset_file,
    estimate,
    find_entry,
    resolve,
    validate_shape,
)
from mock_server.fine_tuning.events import Checkpoint, Event, Metric, render_event
from mock_server.fine_tuning.kept_views import KeptViews
from mock_server.fine_tuning.machine import advance, fail, inject_fault, request_cancel, set_trainer
from mock_server.fine_tuning.models import TERMINAL, Fault, Job, JobStatus, Timeline, Transition
from mock_server.fine_tuning.models import InvalidTransition as _StateError
from mock_server.fine_tuning.plan import (
    expected_end,
    moves_at,
    seconds_remaining,
    unchanged_until,
)
from mock_server.fine_tuning.requests import (
    CheckpointRef,
    FineTuneRequest,
    PriceRequest,
    split_checkpoint_ref,
)
from mock_server.fine_tuning.views import render_job
from mock_server.store import BlobStore, Store, UnreadableRecord

if TYPE_CHECKING:  # the real-training modules load on the first real job, not at startup
    from mock_server.fine_tuning.reports import Report

__all__ = ["FineTuning", "JobHook", "Trainer"]

Trainer = Literal["synthetic", "real"]
_Request = TypeVar("_Request", bound=FineTuneRequest)  # a create's, or a price estimate's

JobHook = Callable[[Job, datetime], Job]
"""A scenario's say on a new job (stuck in queue, failing at a step)."""


def _as_is(job: Job, now: datetime) -> Job:
    return job


def _nothing() -> None:
    return None


class FineTuning:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        clock: Clock,
        ids: IdSource,
        timeline: Timeline,
        files: FileService,
        *,
        account: str = "sim-user",
        trainer: Trainer = "synthetic",
        keep_views: bool = True,
        on_new_job: JobHook = _as_is,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.ids = ids
        self.timeline = timeline
        self.files = files
        self.account = account
        self.trainer: Trainer = trainer  # who trains new jobs; /_sim/jobs/{id}/trainer overrides
        self.views = KeptViews(enabled=keep_views)
        self._on_new_job = on_new_job
        # Told when a real job changed, so a worker starts or stops now (set in app.py).
        self.on_real_change: Callable[[], None] = _nothing

    # -- creating ---------------------------------------------------------------------------------

    def resolve_checkpoint(self, tenant: str, ref: str) -> CheckpointRef:
        head, step = split_checkpoint_ref(ref)
        try:
            job = self.job(tenant, head) if head.startswith("ft-") else None
        except NotFound:
            job = None
        if job is None:
            try:
                job = self._advanced(self.store.find_job_by_output_name(tenant, head))
            except NotFound as exc:
                raise InvalidRequest(
                    f"Checkpoint {ref} not found: no job or output model named {head}",
                    param="from_checkpoint",
                ) from exc
        checkpoints = self.store.list_checkpoints(job.id)
        if step is None:
            if job.status is not JobStatus.completed:
                raise InvalidRequest(
                    f"Job {job.id} is {job.status.value}: only a completed job has a final "
                    "checkpoint to continue from (or name an intermediate one as ID:STEP)",
                    param="from_checkpoint",
                )
        elif not any(c.step == step for c in checkpoints):
            steps = sorted({c.step for c in checkpoints})
            raise InvalidRequest(
                f"Job {job.id} has no checkpoint at step {step} (it has {steps})",
                param="from_checkpoint",
            )
        return CheckpointRef(job=job, step=step)

    def _checked(
        self, tenant: str, req: _Request
    ) -> tuple[_Request, FileRecord, FileRecord | None, CheckpointRef | None]:
        """What create and the price estimate both check first: the request's shape, its
        files (validated if they were not yet) and the checkpoint it continues from."""
        if req.validation_file == "":
            req = req.model_copy(update={"validation_file": None})
        validate_shape(req)
        train = self.files.validated(tenant, req.training_file, "training_file")
        check_dataset_file(train, "training_file")
        valid = (
            self.files.validated(tenant, req.validation_file, "validation_file")
            if req.validation_file
            else None
        )
        checkpoint = (
            self.resolve_checkpoint(tenant, req.from_checkpoint) if req.from_checkpoint else None
        )
        return req, train, valid, checkpoint

    def create_job(self, tenant: str, req: FineTuneRequest) -> Job:
        req, train, valid, checkpoint = self._checked(tenant, req)
        ctx = Context(
            tenant=tenant,
            now=self.clock.now(),
            job_id=self.ids.job_id(),
            output_hash=self.ids.hex(8),
            account=self.account,
            timeline=self.timeline,
            training_file=train,
            validation_file=valid,
            checkpoint=checkpoint,
        )
        job, events = resolve(req, ctx)
        if self.trainer == "real":
            job = job.model_copy(update={"trainer": "real"})
        job = self._on_new_job(job, ctx.now)
        self.store.create_job(job, events)
        self._wake(job)
        return job

    def estimate_price(self, tenant: str, req: PriceRequest) -> dict[str, Any]:
        """The price of the job ``req`` would create, after the checks its create would make."""
        req, train, valid, checkpoint = self._checked(tenant, req)
        if checkpoint is not None:
            entry = find_entry(checkpoint.job.model)
            return estimate(req, entry, train, valid, checkpoint.job.training_type)
        assert req.model is not None  # validate_shape: a model or a checkpoint
        return estimate(req, find_entry(req.model), train, valid)

    def limits(self, tenant: str, model_name: str) -> dict[str, Any]:
        """Limits of a catalogue model; a job id or output name (with or without ``:STEP``), as
        clients send with ``from_checkpoint``, gives the limits of that job's base model."""
        entry = catalogue.get(model_name)
        if entry is None:
            head, _ = split_checkpoint_ref(model_name)
            try:
                job = (
                    self.store.get_job(tenant, head)
                    if head.startswith("ft-")
                    else self.store.find_job_by_output_name(tenant, head)
                )
            except NotFound as exc:
                raise NotFound(
                    "model",
                    model_name,
                    param="model_name",
                    message=f"Model {model_name} is not available for fine-tuning",
                ) from exc
            entry = find_entry(job.model)
        return catalogue.limits_payload(entry, model_name=model_name)

    # -- reading ----------------------------------------------------------------------------------

    def _advanced(self, job: Job) -> Job:
        if job.status in TERMINAL:
            return job
        now = self.clock.now()
        if self.views.still(job.tenant, job.id, now) is not None:
            return job  # read after it was last advanced, and nothing has moved it since
        version = self.views.version()
        job = self.store.update_job(job.tenant, job.id, lambda j: advance(j, now))
        self._keep_still(job, now, version)
        return job

    def job(self, tenant: str, job_id: str) -> Job:
        """The job brought up to the clock's time (saved, if that moved it). A job that cannot
        have moved since it was last brought up (``KeptViews.still``) is read as it is stored:
        a list of many live jobs, or their events, then skips working out their plans."""
        now = self.clock.now()
        if self.views.still(tenant, job_id, now) is not None:
            return self.store.get_job(tenant, job_id)
        version = self.views.version()
        job = self.store.update_job(tenant, job_id, lambda j: advance(j, now))
        self._keep_still(job, now, version)
        return job

    def _keep_still(self, job: Job, now: datetime, version: int) -> None:
        until = moves_at(job, now)
        if until is not None and until > now:
            self.views.keep_still(job.tenant, job.id, until, expected_end(job), version=version)

    def job_view(self, tenant: str, job_id: str, *, upper_case_types: bool) -> bytes:
        """A job with its events as the JSON body of ``GET /fine-tunes/{id}``.

        Clients poll jobs a lot, and a job's answer only changes at moments its plan knows in
        advance (``unchanged_until``), or when it is cancelled, failed or deleted (which forget
        the kept body). So the body is kept (``KeptViews``) until then."""
        now = self.clock.now()
        if (body := self.views.get(tenant, job_id, upper_case_types, now)) is not None:
            return body
        version = self.views.version()
        job = self.store.update_job(tenant, job_id, lambda j: advance(j, now))
        self._keep_still(job, now, version)
        events = [
            render_event(e, upper_case_types=upper_case_types)
            for e in self.store.list_events(job.id)
        ]
        view = render_job(job, seconds_remaining=seconds_remaining(job, now), events=events)
        body = json_body(view)
        until = unchanged_until(job, now)
        self.views.keep(tenant, job_id, upper_case_types, body, until, version=version)
        return body

    def kept_view(self, tenant: str, job_id: str, upper_case_types: bool) -> bytes | None:
        """The kept body of a job if it is still the right answer now, else None (the poll
        front in ``poll_front.py`` asks this before the app runs)."""
        return self.views.get(tenant, job_id, upper_case_types, self.clock.now())

    def jobs(self, tenant: str) -> list[Job]:
        return [self._advanced(job) for job in self.store.list_jobs(tenant)]

    def output_job(self, tenant: str, name: str) -> Job:
        """The job whose output model is named ``name``, brought up to the clock's time."""
        return self._advanced(self.store.find_job_by_output_name(tenant, name))

    def events(self, tenant: str, job_id: str) -> list[Event]:
        return self.store.list_events(self.job(tenant, job_id).id)

    def checkpoints(self, tenant: str, job_id: str) -> list[Checkpoint]:
        checkpoints = self.store.list_checkpoints(self.job(tenant, job_id).id)
        return sorted(checkpoints, key=lambda c: (c.created_at, c.step), reverse=True)

    def metrics(self, tenant: str, job_id: str, **filters: Any) -> list[Metric]:
        return self.store.list_metrics(self.job(tenant, job_id).id, **filters)

    def seconds_remaining(self, job: Job) -> int:
        now = self.clock.now()
        if job.status not in TERMINAL and (end := self.views.still(job.tenant, job.id, now)):
            return max(0, math.ceil((end - now).total_seconds()))  # as plan.seconds_remaining
        return seconds_remaining(job, now)

    # -- moving -----------------------------------------------------------------------------------

    def _move(self, tenant: str, job_id: str, move: Any) -> Job:
        now = self.clock.now()

        def step(job: Job) -> Transition:
            advanced = advance(job, now)
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
        return self._wake(self._move(tenant, job_id, request_cancel))

    def delete_job(self, tenant: str, job_id: str) -> None:
        try:
            job: Job | None = self.store.get_job(tenant, job_id)
        except UnreadableRecord:  # deleting is how a user clears a job that does not load
            job = None
        self.store.delete_job(tenant, job_id)
        self.views.forget(tenant, job_id)  # after the delete, as in _move
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
        return self._wake(self._move(tenant, job_id, lambda job, now: set_trainer(job, trainer)))

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
                self._move(tenant, job_id, lambda job, now: fail(job, now, message, kind=kind))
            )
        fault = Fault(kind=kind, at_step=at_step, message=message)

        def schedule_fault(job: Job, now: datetime) -> Transition:
            try:
                return inject_fault(job, fault, now)
            except ValueError as exc:
                raise InvalidRequest(str(exc), param="at_step") from exc

        return self._wake(self._move(tenant, job_id, schedule_fault))
