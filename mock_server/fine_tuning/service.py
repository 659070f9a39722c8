"""The simulated service behind the routes, in the manner of a moto backend.

It ties the pure parts together (the job state machine, the request checks, the dataset
validator) with the store, the clock and the id source. Routes translate HTTP into one call here
and the result back into HTTP; nothing here knows about requests or responses.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, Literal

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.clock import Clock
from mock_server.core.errors import InvalidRequest, InvalidTransition, NotFound
from mock_server.core.ids import IdSource
from mock_server.endpoints.service import EndpointBackend
from mock_server.faults.behaviours import Behaviours
from mock_server.faults.registry import Faults
from mock_server.files.checks.check import check_dataset
from mock_server.files.models import FilePurpose, FileRecord
from mock_server.files.uploads import Uploads
from mock_server.fine_tuning.artifacts import JobArtifacts
from mock_server.fine_tuning.create import (
    Context,
    check_dataset_file,
    estimate,
    find_entry,
    resolve,
    validate_shape,
)
from mock_server.fine_tuning.events import Checkpoint, Event, Metric, render_event
from mock_server.fine_tuning.machine import (
    TERMINAL,
    Fault,
    Job,
    JobStatus,
    Timeline,
    Transition,
    advance,
    fail,
    inject_fault,
    request_cancel,
    seconds_remaining,
    set_trainer,
    unchanged_until,
)
from mock_server.fine_tuning.machine import InvalidTransition as _StateError
from mock_server.fine_tuning.requests import (
    CheckpointRef,
    FineTuneRequest,
    PriceRequest,
    split_checkpoint_ref,
)
from mock_server.fine_tuning.views import render_job
from mock_server.store import Store

if TYPE_CHECKING:  # the real-training modules load on the first real job, not at startup
    from mock_server.fine_tuning.reports import Report
    from mock_server.inference.models import Completion
    from mock_server.real_training.chat import RealModel
    from mock_server.real_training.runner import TrainingRunner
    from mock_server.training.bases import BaseChoice

__all__ = ["Backend", "Serving", "tenant_of"]

Trainer = Literal["synthetic", "real"]


@dataclass(frozen=True)
class Serving:
    """What answers a completion: ``model`` is the name the answer carries, ``answers_as`` the
    model whose (synthetic) text it gives, ``real`` that model's weights if it was trained for
    real."""

    model: str
    answers_as: str
    real: RealModel | None


def tenant_of(api_key: str) -> str:
    """Each distinct key is its own tenant; the key itself is never stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass
class Backend:
    store: Store
    clock: Clock
    ids: IdSource
    timeline: Timeline
    account: str = "sim-user"
    keep_views: bool = True
    trainer: Trainer = "synthetic"  # who trains new jobs; /_sim/jobs/{id}/trainer overrides
    real_model: str = "micro"  # the stand-in a real job trains
    model_map: Mapping[str, BaseChoice] = field(default_factory=dict)  # model name -> base
    progress: IO[str] | None = None  # where real jobs draw their progress lines
    worker_threads: int | None = None  # CPU threads per worker; None: torch's choice
    # A scenario's job and file behaviours (stuck, fail at a step, invalid file): behaviours.py
    behaviours: Behaviours = field(default_factory=Behaviours)
    # Injected HTTP faults and their journal (active_faults.py), on this backend's clock.
    faults: Faults = field(init=False, repr=False)
    _runner: TrainingRunner | None = field(default=None, repr=False)
    _runner_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _views: OrderedDict[tuple[str, str, bool], tuple[bytes, datetime | None]] = field(
        default_factory=OrderedDict, repr=False
    )

    def __post_init__(self) -> None:
        self.faults = Faults(self.clock)

    # -- files ------------------------------------------------------------------------------------

    @cached_property
    def uploads(self) -> Uploads:
        """Uploads in flight (one-shot and multipart), until they become files."""
        return Uploads(self.store, self.clock, self.ids)

    def preprocess(self, tenant: str, file_id: str) -> FileRecord:
        """Validate the file with the rules of the SDK's ``check_file`` (once; later calls are
        free). Slow for big files: call it from a worker thread."""
        record = self.store.get_file(tenant, file_id)
        if record.processed:
            return record
        if record.purpose is FilePurpose.batch_api:  # batch requests, not a training set
            from mock_server.batches.service import checked_input_file

            checked = checked_input_file(record, self.store.blob_path(file_id))
            self.store.put_file(checked)
            return checked
        report = check_dataset(
            self.store.blob_path(file_id), purpose=record.purpose.value, filename=record.filename
        )
        failed = not report.is_check_passed
        validated = record.model_copy(
            update={
                "processed": True,
                "processing_status": "INVALID_FORMAT" if failed else "COMPLETED",
                "num_samples": report.num_samples,
                "token_count": report.token_count,
                "dataset_format": report.dataset_format,
                "has_weights": report.has_weights,
                "validation_report": {
                    "valid": not failed,
                    "error": (report.error or report.message) if failed else None,
                    "error_type": report.error_source if failed else None,
                    "line_number": report.line_number,
                    "message": report.message,
                    "dataset_format": report.dataset_format,
                    "nlines": report.num_samples,
                    "num_samples": report.num_samples,
                    "token_count": report.token_count,
                    "check": report.sdk_report(),
                },
            }
        )
        validated = self.behaviours.validated_file(validated)
        self.store.put_file(validated)
        return validated

    def file(self, tenant: str, file_id: str) -> FileRecord:
        return self.store.get_file(tenant, file_id)

    def files(self, tenant: str) -> list[FileRecord]:
        return self.store.list_files(tenant)

    def delete_file(self, tenant: str, file_id: str) -> FileRecord:
        return self.store.delete_file(tenant, file_id)

    # -- fine-tuning jobs -------------------------------------------------------------------------

    def _validated(self, tenant: str, file_id: str, param: str) -> FileRecord:
        try:
            record = self.store.get_file(tenant, file_id)
        except NotFound as exc:
            raise NotFound(
                "file", file_id, message=f"File {file_id} not found", param=param
            ) from exc
        return self.preprocess(tenant, file_id) if not record.processed else record

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

    def create_job(self, tenant: str, req: FineTuneRequest) -> Job:
        if req.validation_file == "":
            req = req.model_copy(update={"validation_file": None})
        validate_shape(req)
        train = self._validated(tenant, req.training_file, "training_file")
        check_dataset_file(train, "training_file")
        valid = (
            self._validated(tenant, req.validation_file, "validation_file")
            if req.validation_file
            else None
        )
        checkpoint = (
            self.resolve_checkpoint(tenant, req.from_checkpoint) if req.from_checkpoint else None
        )
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
        job = self.behaviours.new_job(job, ctx.now)
        self.store.create_job(job, events)
        self._wake(job)
        return job

    def estimate_price(self, tenant: str, req: PriceRequest) -> dict[str, Any]:
        train = self._validated(tenant, req.training_file, "training_file")
        check_dataset_file(train, "training_file")
        valid = (
            self._validated(tenant, req.validation_file, "validation_file")
            if req.validation_file
            else None
        )
        if req.from_checkpoint:
            entry = find_entry(self.resolve_checkpoint(tenant, req.from_checkpoint).job.model)
        elif req.model:
            entry = find_entry(req.model)
        else:
            raise InvalidRequest("You must specify either a model or a checkpoint", param="model")
        return estimate(req, entry, train, valid)

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

    def _advanced(self, job: Job) -> Job:
        if job.status in TERMINAL:
            return job
        now = self.clock.now()
        return self.store.update_job(job.tenant, job.id, lambda j: advance(j, now))

    def job(self, tenant: str, job_id: str) -> Job:
        """The job brought up to the clock's time: one read, inside the write lock."""
        now = self.clock.now()
        return self.store.update_job(tenant, job_id, lambda j: advance(j, now))

    def job_view(self, tenant: str, job_id: str, *, upper_case_types: bool) -> bytes:
        """A job with its events as the JSON body of ``GET /fine-tunes/{id}``.

        Clients poll jobs a lot, and a job's answer only changes at moments its plan knows in
        advance (``unchanged_until``), or when it is cancelled, failed or deleted (which forget
        the kept body). So the body is kept, in a small LRU, until then."""
        if (body := self.kept_view(tenant, job_id, upper_case_types)) is not None:
            return body
        now = self.clock.now()
        job = self.store.update_job(tenant, job_id, lambda j: advance(j, now))
        events = [
            render_event(e, upper_case_types=upper_case_types)
            for e in self.store.list_events(job.id)
        ]
        view = render_job(job, seconds_remaining=seconds_remaining(job, now), events=events)
        body = json_body(view)
        if self.keep_views:
            self._views[(tenant, job_id, upper_case_types)] = (body, unchanged_until(job, now))
            if len(self._views) > 1024:
                self._views.popitem(last=False)
        return body

    def kept_view(self, tenant: str, job_id: str, upper_case_types: bool) -> bytes | None:
        """The kept body of a job if it is still the right answer now, else None (the fast
        path in ``fastpath.py`` asks this before the app runs)."""
        key = (tenant, job_id, upper_case_types)
        kept = self._views.get(key)
        if kept is None:
            return None
        body, until = kept
        if until is not None and self.clock.now() >= until:
            del self._views[key]
            return None
        self._views.move_to_end(key)
        return body

    def _forget_view(self, tenant: str, job_id: str) -> None:
        for upper in (False, True):
            self._views.pop((tenant, job_id, upper), None)

    def jobs(self, tenant: str) -> list[Job]:
        return [self._advanced(job) for job in self.store.list_jobs(tenant)]

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

        self._forget_view(tenant, job_id)
        return self.store.update_job(tenant, job_id, step)

    def cancel(self, tenant: str, job_id: str) -> Job:
        return self._wake(self._move(tenant, job_id, request_cancel))

    # -- real training ----------------------------------------------------------------------------

    def training_runner(self) -> TrainingRunner:
        """The real-training runner, made on first use (a server with only synthetic jobs never
        imports it)."""
        with self._runner_lock:
            if self._runner is None:
                from mock_server.real_training.runner import TrainingRunner

                self._runner = TrainingRunner(
                    self, model=self.real_model, progress=self.progress, threads=self.worker_threads
                )
            return self._runner

    def close_training(self) -> None:
        """Stop every worker this backend started (the app's shutdown)."""
        if self._runner is not None:
            self._runner.close()

    def _wake(self, job: Job) -> Job:
        """Tell the runner a real job changed, so it starts or stops a worker now."""
        if job.trainer == "real":
            self.training_runner().wake()
        return job

    def set_trainer(self, job_id: str, trainer: Trainer) -> Job:
        tenant = self._tenant_of_job(job_id)
        return self._wake(self._move(tenant, job_id, lambda job, now: set_trainer(job, trainer)))

    def apply_report(self, tenant: str, job_id: str, report: Report) -> Job:
        """One report of a job's training worker, as one transaction."""
        from mock_server.fine_tuning.reports import apply_report

        return self._move(tenant, job_id, lambda job, now: apply_report(job, report, now))

    def worker_launched(self, tenant: str, job_id: str) -> Job:
        from mock_server.fine_tuning.reports import launch

        return self._move(tenant, job_id, lambda job, now: launch(job))

    def real_model_of(self, tenant: str, name: str) -> RealModel | None:
        """Base and adapter (or full model) of a completed real job's output name, else None."""
        if catalogue.get(name) is not None:
            return None
        try:
            job = self.store.find_job_by_output_name(tenant, name)
        except NotFound:
            return None
        if job.trainer != "real" or job.status is not JobStatus.completed:
            return None
        from mock_server.real_training.chat import RealModel
        from mock_server.training.bases import recorded_base

        out = self.store.training_dir(job.id)
        if job.is_lora:
            return RealModel(model_dir=recorded_base(out), adapter_dir=out / "adapter")
        return RealModel(model_dir=out / "model", adapter_dir=None)

    def real_completion(self, model: RealModel, **request: Any) -> Completion:
        """Generate with a real job's model in the inference worker (blocking: call it from a
        thread)."""
        return self.training_runner().chat.complete(model, **request)

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

    def _tenant_of_job(self, job_id: str) -> str:
        return self.store.find_job_anywhere(job_id).tenant

    def delete_job(self, tenant: str, job_id: str) -> None:
        job = self.store.get_job(tenant, job_id)
        self.store.delete_job(tenant, job_id)
        self._forget_view(tenant, job_id)
        if job.trainer == "real" and job.status in TERMINAL:  # a live one's go when its worker ends
            shutil.rmtree(self.store.training_dir(job_id), ignore_errors=True)
        self._wake(job)

    def events(self, tenant: str, job_id: str) -> list[Event]:
        return self.store.list_events(self.job(tenant, job_id).id)

    def checkpoints(self, tenant: str, job_id: str) -> list[Checkpoint]:
        checkpoints = self.store.list_checkpoints(self.job(tenant, job_id).id)
        return sorted(checkpoints, key=lambda c: (c.created_at, c.step), reverse=True)

    def metrics(self, tenant: str, job_id: str, **filters: Any) -> list[Metric]:
        return self.store.list_metrics(self.job(tenant, job_id).id, **filters)

    def seconds_remaining(self, job: Job) -> int:
        return seconds_remaining(job, self.clock.now())

    # -- downloads --------------------------------------------------------------------------------

    @cached_property
    def artifacts(self) -> JobArtifacts:
        """The archives a job's output and checkpoints download as."""
        return JobArtifacts(self)

    # -- dedicated endpoints ----------------------------------------------------------------------

    @cached_property
    def endpoints(self) -> EndpointBackend:
        return EndpointBackend(self)

    def output_job(self, tenant: str, name: str) -> Job:
        """The job whose output model is named ``name``, brought up to the clock's time."""
        return self._advanced(self.store.find_job_by_output_name(tenant, name))

    # -- inference --------------------------------------------------------------------------------

    def serving(self, tenant: str, name: str) -> Serving:
        """What answers a completion that names ``name``: a catalogue model or a completed job's
        output (serverless), or a STARTED dedicated endpoint, which answers as the model it
        serves. Anything else is Together's 404; an endpoint that is not STARTED, its 400."""
        try:
            model = self.chat_model(tenant, name)
        except NotFound:
            endpoint = self.endpoints.serving(tenant, name)
            if endpoint is None:
                raise
            return Serving(
                endpoint.name, endpoint.model, self.real_model_of(tenant, endpoint.model)
            )
        return Serving(model, model, self.real_model_of(tenant, model))

    def chat_model(self, tenant: str, name: str) -> str:
        """The model a completion may run on: a catalogue model, or a completed job's output."""
        if catalogue.get(name) is not None:
            return name
        try:
            job = self._advanced(self.store.find_job_by_output_name(tenant, name))
        except NotFound:
            job = None
        if job is not None and job.status is JobStatus.completed:
            return job.model_output_name
        raise NotFound(
            "model",
            name,
            param="model",
            code="model_not_available",
            message=f"Unable to access model {name}. Please visit https://api.together.ai/models "
            "to view the list of supported models.",
        )

    # -- controls ---------------------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> datetime:
        now = self.clock.advance(seconds)
        self.store.set_meta("clock_offset", repr(self.clock.offset))
        if self._runner is not None:
            self._runner.nudge()
        return now

    def reset(self) -> None:
        if self._runner is not None:
            self._runner.reset()
        self.store.reset()
        self._views.clear()
        self.behaviours.reset()
        self.faults.reset()  # the startup scenario's rules again, journal emptied


def json_body(content: Any) -> bytes:
    """JSON exactly as Starlette's ``JSONResponse`` renders it."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
