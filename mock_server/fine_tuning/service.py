"""The fine-tuning service, in the manner of a moto backend: the pure job machine, the request
checks and the views tied to the store, the clock and the ids.

It receives only what it uses: the store, the blob store (a deleted real job's folder goes with
it), the clock, the ids, the timeline, the files service (training files are validated through
it), a scenario's say on new jobs, and a hook that tells real training a real job changed
(``RealTraining.wake``, wired in ``app.py``; real training sits above this service and calls it
for jobs and reports). Routes translate HTTP into one call here.

One class in parts: ``reading.py`` holds what it receives and reads jobs brought up to the
clock, ``moving.py`` changes them (cancel, delete, a worker's reports, the controls), and this
module creates them (the checks, the price estimate, the limits) and is the class the app builds.
"""

from __future__ import annotations

from typing import Any, TypeVar

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.files.models import FileRecord
from mock_server.fine_tuning.create import (
    Context,
    check_dataset_file,
    estimate,
    find_entry,
    resolve,
    validate_shape,
)
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.fine_tuning.moving import Moving
from mock_server.fine_tuning.reading import JobHook, Trainer
from mock_server.fine_tuning.requests import (
    CheckpointRef,
    FineTuneRequest,
    PriceRequest,
    split_checkpoint_ref,
)

__all__ = ["FineTuning", "JobHook", "Trainer"]

_Request = TypeVar("_Request", bound=FineTuneRequest)  # a create's, or a price estimate's


class FineTuning(Moving):
    """Every operation on fine-tuning jobs: creating them here, reading them (``Reading``) and
    changing them (``Moving``)."""

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
