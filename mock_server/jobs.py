"""The fine-tuning job and its state machine, pure.

A job's whole future is decided when it is created: from its size (steps, epochs, checkpoints,
evals) and the timeline, ``plan`` lists every milestone (a status change, an event, a checkpoint)
at its due time. ``advance(job, now)`` applies the milestones that are due and returns the new
frozen job with what it emitted; nothing here reads a clock, touches the store or logs. Reads are
lazy, as in moto: the service calls ``advance`` with the clock's time whenever a job is looked at.

    pending → queued → running → compressing → uploading → completed
       └──────────┴───────┴──────────┴────────────┴──→ cancel_requested → cancelled
       └──────────┴───────┴──────────┴────────────┴──→ error | user_error

A cancel or an injected fault cuts the plan: milestones after that moment never happen.

A job whose ``trainer`` is ``"real"`` is planned only up to the start of training (queued, running,
the downloads). From there its progress comes from a training worker's reports, which
``mock_server.real_jobs.apply_report`` applies; ``in_training`` says a job has got that far.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mock_server.events import Checkpoint, Event, EventType, Metric
from mock_server.ids import stable_int
from mock_server.schedule import Schedule

__all__ = [
    "LIVE",
    "TERMINAL",
    "TRANSITIONS",
    "Fault",
    "InvalidTransition",
    "Job",
    "JobStatus",
    "Milestone",
    "Timeline",
    "Transition",
    "advance",
    "fail",
    "in_training",
    "job_event",
    "plan",
    "request_cancel",
    "set_trainer",
    "status_after",
    "step_at",
]


class JobStatus(StrEnum):
    pending = "pending"
    queued = "queued"
    running = "running"
    compressing = "compressing"
    uploading = "uploading"
    cancel_requested = "cancel_requested"
    cancelled = "cancelled"
    error = "error"
    user_error = "user_error"  # not in the spec's enum; the 1.5.x SDK and the 3.x CLI know it
    completed = "completed"


_S = JobStatus
TERMINAL: frozenset[JobStatus] = frozenset({_S.cancelled, _S.error, _S.user_error, _S.completed})
LIVE: frozenset[JobStatus] = frozenset(JobStatus) - TERMINAL
_FAILED = frozenset({_S.error, _S.user_error})

TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    _S.pending: frozenset({_S.queued, _S.cancel_requested}) | _FAILED,
    _S.queued: frozenset({_S.running, _S.cancel_requested}) | _FAILED,
    _S.running: frozenset({_S.compressing, _S.cancel_requested}) | _FAILED,
    _S.compressing: frozenset({_S.uploading, _S.cancel_requested}) | _FAILED,
    _S.uploading: frozenset({_S.completed, _S.cancel_requested}) | _FAILED,
    _S.cancel_requested: frozenset({_S.cancelled}) | _FAILED,
    _S.cancelled: frozenset(),
    _S.error: frozenset(),
    _S.user_error: frozenset(),
    _S.completed: frozenset(),
}


class InvalidTransition(Exception):
    def __init__(self, job: Job, target: JobStatus | str) -> None:
        super().__init__(f"job {job.id} is {job.status.value}: it cannot become {target}")
        self.job = job
        self.target = target


class Timeline(BaseModel):
    """Seconds each phase takes at the real service's pace; ``speed`` divides them all.

    ``instant()`` makes every duration zero, so a job is finished by the first read.
    """

    model_config = ConfigDict(frozen=True)

    queue: float = 5.0  # pending → queued
    start: float = 25.0  # queued → running
    model_download: float = 15.0
    data_download: float = 5.0
    step: float = 3.0  # one optimizer step
    compress: float = 45.0
    upload: float = 60.0
    cancel: float = 5.0  # cancel_requested → cancelled
    speed: float = 1.0

    @classmethod
    def instant(cls) -> Timeline:
        return cls(speed=math.inf)

    def seconds(self, phase: str) -> float:
        value: float = getattr(self, phase)
        return 0.0 if math.isinf(self.speed) else value / self.speed

    def durations(self) -> dict[str, float]:
        """Every phase, scaled: what a job is planned with (and keeps, whatever the speed later)."""
        return {phase: self.seconds(phase) for phase in type(self).model_fields if phase != "speed"}


class Fault(BaseModel):
    """A failure injected through the controls: the job dies when it reaches ``at_step``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["error", "user_error"] = "error"
    at_step: int
    message: str = "Simulated failure injected through /_sim"


class Job(BaseModel):
    """A fine-tuning job: the request as resolved at creation, plus where it has got to.

    Field names are the spec's (``FinetuneResponse``) wherever the spec has one; the fields after
    ``# -- simulator state`` never leave the server.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    user_id: str
    owner_address: str
    model: str
    model_output_name: str
    suffix: str | None = None
    training_file: str
    validation_file: str = ""
    trainingfile_numlines: int = 0
    trainingfile_size: int = 0
    n_epochs: int = 1
    n_checkpoints: int = 1
    n_evals: int = 0
    batch_size: int
    learning_rate: float = 1e-5
    lr_scheduler: dict[str, Any] = {}
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    random_seed: int | None = None
    packing: bool = True
    max_seq_length: int
    train_on_inputs: bool | Literal["auto"] | None = "auto"  # None for DPO: SFT-only
    training_method: dict[str, Any]
    training_type: dict[str, Any]
    multimodal_params: dict[str, Any] | None = None
    from_checkpoint: str | None = None
    from_hf_model: str | None = None
    hf_model_revision: str | None = None
    hf_output_repo_name: str | None = None
    wandb_project_name: str | None = None
    wandb_name: str | None = None
    wandb_url: str = ""
    token_count: int = 0  # training tokens over all epochs
    param_count: int = 0
    total_price: int = 0  # US cents
    total_steps: int = 1
    steps_per_epoch: int = 1
    eval_steps: int = 0
    steps_completed: int = 0
    epochs_completed: int = 0
    evals_completed: int = 0
    # -- simulator state
    tenant: str
    durations: dict[str, float]  # the scaled timeline this job was planned with
    cursor: int = 0  # milestones of ``plan(job)`` already applied
    metrics_logged_to: int = 0  # the last step whose metric point was emitted
    cancel_requested_at: datetime | None = None
    failed_at: datetime | None = None
    fault: Fault | None = None
    failure_message: str | None = None
    trainer: Literal["synthetic", "real"] = "synthetic"
    worker_launched: bool = False  # real: a training worker was started for this job
    eta: datetime | None = None  # real: when the job should end, from measured step times

    @property
    def is_lora(self) -> bool:
        return self.training_type.get("type") == "Lora"

    @property
    def is_dpo(self) -> bool:
        return self.training_method.get("method") == "dpo"

    @property
    def seed(self) -> int:
        return 42 if self.random_seed is None else self.random_seed


@dataclass(frozen=True)
class Milestone:
    at: datetime
    status: JobStatus | None = None
    event: Event | None = None
    checkpoint: Checkpoint | None = None


@dataclass(frozen=True)
class Transition:
    job: Job
    events: list[Event] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)


# -- the plan -------------------------------------------------------------------------------------


def _at(job: Job, seconds: float) -> datetime:
    return job.created_at + timedelta(seconds=seconds)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _training_start_offset(job: Job) -> float:
    d = job.durations
    return d["queue"] + d["start"] + d["model_download"] + d["data_download"]


def step_time(job: Job, step: int) -> datetime:
    return _at(job, _training_start_offset(job) + step * job.durations["step"])


def step_at(job: Job, moment: datetime) -> int:
    """How many optimizer steps the job has finished by ``moment`` (on an uncut plan)."""
    if job.durations["step"] == 0:
        return job.total_steps if moment >= step_time(job, 0) else 0
    elapsed = (moment - step_time(job, 0)).total_seconds()
    return max(0, min(job.total_steps, math.floor(elapsed / job.durations["step"] + 1e-9)))


def _spread(count: int, total: int) -> list[int]:
    """``count`` steps spread evenly over ``1..total``, the last one at ``total``."""
    if count <= 0 or total <= 0:
        return []
    return sorted({max(1, round(k * total / count)) for k in range(1, count + 1)})


def checkpoint_steps(job: Job) -> list[int]:
    """Steps of the intermediate checkpoints; the final one is saved on completion."""
    return [s for s in _spread(job.n_checkpoints, job.total_steps) if s < job.total_steps]


def eval_steps(job: Job) -> list[int]:
    return _spread(job.n_evals, job.total_steps) if job.validation_file else []


def _event(job: Job, at: datetime, type_: EventType, message: str, **fields: Any) -> Event:
    fields.setdefault("token_count", job.token_count)
    fields.setdefault("param_count", job.param_count)
    fields.setdefault("total_steps", job.total_steps)
    fields.setdefault("wandb_url", job.wandb_url)
    return Event(created_at=at, type=type_, message=message, **fields)


def _ms(at: datetime, status: JobStatus | None = None, event: Event | None = None) -> Milestone:
    return Milestone(at=at, status=status, event=event)


def _full_plan(job: Job) -> list[Milestone]:
    d, model = job.durations, job.model
    out: list[Milestone] = []

    def note(
        at: datetime, type_: EventType, message: str, status: JobStatus | None = None, **fields: Any
    ) -> None:
        out.append(_ms(at, status, _event(job, at, type_, message, **fields)))

    queued = _at(job, d["queue"])
    running = queued + timedelta(seconds=d["start"])
    downloaded = running + timedelta(seconds=d["model_download"])
    data = downloaded + timedelta(seconds=d["data_download"])
    out.append(_ms(queued, JobStatus.queued))
    note(running, EventType.job_start, f"Job started at {_stamp(running)}", JobStatus.running)
    note(
        downloaded,
        EventType.model_download_complete,
        f"Model data downloaded for {model} at {_stamp(downloaded)}",
    )
    note(
        data,
        EventType.training_data_download_complete,
        f"Training data downloaded for {model} at {_stamp(data)}",
    )
    if job.validation_file:
        note(
            data,
            EventType.validation_data_download_complete,
            f"Validation data downloaded for {model} at {_stamp(data)}",
        )
    if job.wandb_url:
        note(data, EventType.wandb_init, "WandB run initialized.")
    note(data, EventType.training_start, f"Training started for model {model}")

    # What happens at a step, in this order when several coincide: epoch end, eval, checkpoint.
    epochs = {min(job.total_steps, e * job.steps_per_epoch): e for e in range(1, job.n_epochs + 1)}
    evals, saves = set(eval_steps(job)), set(checkpoint_steps(job))
    for step in sorted(set(epochs) | evals | saves):
        at = step_time(job, step)
        if step in epochs:
            note(
                at,
                EventType.epoch_complete,
                f"Epoch completed, at step {step}",
                step=step,
                training_offset=epochs[step],
            )
        if step in evals:
            note(at, EventType.eval_complete, f"Evaluation completed at step {step}", step=step)
        if step in saves:
            path = f"s3://together-sim/finetune/{job.id}/checkpoints/step-{step}"
            note(
                at,
                EventType.checkpoint_save,
                f"New checkpoint saved at step {step}",
                step=step,
                checkpoint_path=path,
            )
            out[-1] = replace(
                out[-1],
                checkpoint=Checkpoint(
                    step=step,
                    created_at=at,
                    checkpoint_type="Intermediate",
                    path=path,
                    kind="adapter" if job.is_lora else "model",
                ),
            )

    trained = step_time(job, job.total_steps)
    compressed = trained + timedelta(seconds=d["compress"])
    uploaded = compressed + timedelta(seconds=d["upload"])
    out_path = f"s3://together-sim/finetune/{job.id}/{job.model_output_name}"
    last = job.total_steps
    note(
        trained,
        EventType.training_complete,
        f"Training completed for {model} at {_stamp(trained)}",
        step=last,
    )
    note(
        trained,
        EventType.model_uploading,
        "Uploading output model",
        JobStatus.compressing,
        step=last,
    )
    note(trained, EventType.model_compressing, "Compressing output model", step=last)
    note(
        compressed,
        EventType.model_compression_complete,
        "Model compression complete",
        JobStatus.uploading,
        step=last,
    )
    note(
        uploaded,
        EventType.model_upload_complete,
        "Model upload complete",
        step=last,
        model_path=out_path,
    )
    finals: list[tuple[str, Literal["adapter", "model"]]] = (
        [("Final Merged", "model"), ("Final Adapter", "adapter")]
        if job.is_lora
        else [("Final", "model")]
    )
    for label, kind in finals:
        path = out_path + ("/adapter" if kind == "adapter" else "")
        out.append(
            Milestone(
                at=uploaded,
                checkpoint=Checkpoint(
                    step=last, created_at=uploaded, checkpoint_type=label, path=path, kind=kind
                ),
            )
        )
    note(
        uploaded,
        EventType.job_complete,
        f"Job finished at {_stamp(uploaded)}",
        JobStatus.completed,
        step=last,
        model_path=out_path,
    )
    return out


_PLANS: OrderedDict[tuple[Any, ...], tuple[Milestone, ...]] = OrderedDict()
_TRAINING = EventType.training_start


def _uncut_plan(job: Job) -> list[Milestone]:
    """``_full_plan``, remembered: a job is read far more often than it changes, and the uncut
    plan depends only on what the job was created with (the key holds all of it)."""
    key = (
        job.id, job.created_at, job.model, job.model_output_name, job.validation_file,
        job.wandb_url, job.total_steps, job.steps_per_epoch, job.n_epochs, job.n_evals,
        job.n_checkpoints, job.is_lora, job.token_count, job.param_count,
        tuple(sorted(job.durations.items())), job.trainer,
    )  # fmt: skip
    milestones = _PLANS.get(key)
    if milestones is None:
        full = _full_plan(job)
        if job.trainer == "real":  # the worker's reports take over at the start of training
            start = next(i for i, m in enumerate(full) if m.event and m.event.type is _TRAINING)
            full = full[:start]
        milestones = _PLANS[key] = tuple(full)
        if len(_PLANS) > 256:
            _PLANS.popitem(last=False)
    return list(milestones)


def plan(job: Job) -> list[Milestone]:
    """Every milestone of the job from its creation on, cut short by a cancel or a fault."""
    milestones = _uncut_plan(job)
    # A real job's fault fires on the worker's step report (real_jobs.apply_report), not on a clock.
    if job.fault is not None and job.failed_at is None and job.trainer != "real":
        at = step_time(job, job.fault.at_step)
        kept = [m for m in milestones if m.at < at]
        status = JobStatus(job.fault.kind)
        type_ = EventType.job_error if status is JobStatus.error else EventType.job_user_error
        event = _event(
            job,
            at,
            type_,
            f"Job failed at step {job.fault.at_step}: {job.fault.message}",
            level="error",
            step=job.fault.at_step,
        )
        milestones = [*kept, _ms(at, status, event)]
    if job.cancel_requested_at is not None:
        cut = job.cancel_requested_at
        kept = [m for m in milestones if m.at <= cut][: job.cursor]
        if in_training(job):  # the worker confirms the stop with a report
            return kept
        at = cut + timedelta(seconds=job.durations["cancel"])
        milestones = [
            *kept,
            _ms(
                at,
                JobStatus.cancelled,
                _event(
                    job,
                    at,
                    EventType.job_stopped,
                    f"Job was stopped at {_stamp(at)}",
                    step=job.steps_completed,
                ),
            ),
        ]
    return milestones


def end_time(job: Job) -> datetime:
    return plan(job)[-1].at


def in_training(job: Job) -> bool:
    """A real job past its planned milestones: its progress now comes from a training worker."""
    return job.trainer == "real" and job.cursor >= len(_uncut_plan(job))


def _expected_end(job: Job) -> datetime:
    """When the job should end: its plan's last milestone; for a real job, the end measured step
    times predict, or before the first step the synthetic timeline's end."""
    if job.trainer != "real" or job.cancel_requested_at is not None:
        return end_time(job)
    if job.eta is not None:
        return job.eta
    return _uncut_plan(job.model_copy(update={"trainer": "synthetic"}))[-1].at


def seconds_remaining(job: Job, now: datetime) -> int:
    """Whole seconds until the job ends (rounded up), as ``progress.seconds_remaining``."""
    if job.status in TERMINAL:
        return 0
    return max(0, math.ceil((_expected_end(job) - now).total_seconds()))


def unchanged_until(job: Job, now: datetime) -> datetime | None:
    """Until when a read of ``job`` (already advanced to ``now``) gives the same answer: the next
    milestone, the next step or the next tick of ``seconds_remaining``. None: never changes."""
    if job.status in TERMINAL:
        return None
    if in_training(job):  # a worker's report may change it at any moment
        return now
    milestones = plan(job)
    moments = [now]
    if job.cursor < len(milestones):
        moments.append(milestones[job.cursor].at)
    if job.steps_completed < job.total_steps and job.trainer != "real":
        moments.append(step_time(job, job.steps_completed + 1))
    end = _expected_end(job)
    left = (end - now).total_seconds()
    if left > 0:
        moments.append(end - timedelta(seconds=math.ceil(left) - 1))
    return min(m for m in moments if m > now) if any(m > now for m in moments) else now


# -- synthetic metrics ----------------------------------------------------------------------------


def _loss(job: Job, step: int, *, eval_: bool = False) -> float:
    """A seeded, decreasing loss curve; the same configuration and seed give the same curve."""
    start, floor = (0.6931, 0.08) if job.is_dpo else (2.3, 0.55)
    progress = step / max(1, job.total_steps)
    base = floor + (start - floor) * math.exp(-3.0 * progress)
    noise = random.Random(stable_int(job.seed, job.model, job.token_count, step, eval_)).uniform(
        -1, 1
    )
    return round(base * (1.0 + 0.02 * noise) + (0.05 if eval_ else 0.0), 6)


def schedule(job: Job) -> Schedule:
    sched = job.lr_scheduler or {}
    args = sched.get("lr_scheduler_args") or {}
    return Schedule(
        peak=job.learning_rate,
        total_steps=job.total_steps,
        warmup_ratio=job.warmup_ratio,
        kind="cosine" if sched.get("lr_scheduler_type") == "cosine" else "linear",
        min_lr_ratio=float(args.get("min_lr_ratio", 0.0)),
        num_cycles=float(args.get("num_cycles", 0.5)),
    )


def _metrics(job: Job, upto: int) -> list[Metric]:
    """Metric points for the steps in ``(job.metrics_logged_to, upto]``: at most ~500 per job."""
    stride = max(1, math.ceil(job.total_steps / 500))
    evals = set(eval_steps(job))
    lr = schedule(job)
    points = []
    for step in range(job.metrics_logged_to + 1, upto + 1):
        if step % stride and step != job.total_steps and step not in evals:
            continue
        values = {
            "train/loss": _loss(job, step),
            "train/learning_rate": lr.lr_at(step - 1),
            "train/global_step": float(step),
            "train/epoch": round(step / job.steps_per_epoch, 4),
        }
        if step in evals:
            values["eval/loss"] = _loss(job, step, eval_=True)
        points.append(Metric(step=step, logged_at=step_time(job, step), values=values))
    return points


# -- moves ----------------------------------------------------------------------------------------


def _status_after(job: Job, status: JobStatus, at: datetime) -> Job:
    if status not in TRANSITIONS[job.status]:
        raise InvalidTransition(job, status)
    started = at if status is JobStatus.running else job.started_at
    return job.model_copy(update={"status": status, "updated_at": at, "started_at": started})


# For ``real_jobs``, which moves jobs on a worker's reports with the same rules and event fields.
status_after = _status_after
job_event = _event


def advance(job: Job, now: datetime) -> Transition:
    """Apply every milestone due by ``now``."""
    if job.status in TERMINAL:
        return Transition(job)
    milestones = plan(job)
    events: list[Event] = []
    checkpoints: list[Checkpoint] = []
    cursor = job.cursor
    while cursor < len(milestones) and milestones[cursor].at <= now:
        m = milestones[cursor]
        if m.status is not None:
            job = _status_after(job, m.status, m.at)
        if m.event is not None:
            events.append(m.event)
        if m.checkpoint is not None:
            checkpoints.append(m.checkpoint)
        cursor += 1
    if job.trainer == "real":  # steps, metrics and the end come from the worker's reports
        updates_real: dict[str, Any] = {"cursor": cursor}
        if job.status in _FAILED:
            updates_real["failed_at"] = job.updated_at
            updates_real["failure_message"] = events[-1].message if events else job.failure_message
        return Transition(job.model_copy(update=updates_real), events, checkpoints)
    horizon = now if job.cancel_requested_at is None else min(now, job.cancel_requested_at)
    if job.fault is not None:
        horizon = min(horizon, step_time(job, job.fault.at_step))
    steps = step_at(job, horizon) if job.status is not JobStatus.pending else 0
    metrics = _metrics(job, steps)
    updates: dict[str, Any] = {
        "cursor": cursor,
        "steps_completed": steps,
        "epochs_completed": min(job.n_epochs, steps // max(1, job.steps_per_epoch)),
        "evals_completed": sum(1 for s in eval_steps(job) if s <= steps),
        "metrics_logged_to": max(job.metrics_logged_to, steps),
    }
    if job.status in _FAILED:
        updates["failed_at"] = job.updated_at
        updates["failure_message"] = events[-1].message if events else job.failure_message
    return Transition(job.model_copy(update=updates), events, checkpoints, metrics)


def request_cancel(job: Job, now: datetime) -> Transition:
    """Ask a live job to stop. Call it on a job already advanced to ``now``."""
    if job.status not in LIVE or job.status is JobStatus.cancel_requested:
        raise InvalidTransition(job, JobStatus.cancel_requested)
    moved = _status_after(job, JobStatus.cancel_requested, now)
    moved = moved.model_copy(update={"cancel_requested_at": now})
    event = _event(
        job, now, EventType.cancel_requested, "Job cancellation requested", step=job.steps_completed
    )
    return Transition(moved, [event])


def fail(
    job: Job, now: datetime, message: str, *, kind: Literal["error", "user_error"] = "error"
) -> Transition:
    """End a live job in ``error`` or ``user_error`` now."""
    status = JobStatus(kind)
    moved = _status_after(job, status, now)
    moved = moved.model_copy(update={"failed_at": now, "failure_message": message})
    type_ = EventType.job_error if status is JobStatus.error else EventType.job_user_error
    return Transition(
        moved, [_event(job, now, type_, message, level="error", step=job.steps_completed)]
    )


def set_trainer(job: Job, trainer: Literal["synthetic", "real"]) -> Transition:
    """Choose who trains the job: the synthetic timeline or a real worker. Only before it runs,
    while both plans are still the same (the real one is the synthetic one cut at training)."""
    if job.status not in (JobStatus.pending, JobStatus.queued):
        raise InvalidTransition(job, f"a {trainer}-trainer job (only while pending or queued)")
    return Transition(job.model_copy(update={"trainer": trainer}))


def inject_fault(job: Job, fault: Fault, now: datetime) -> Transition:
    """Arrange for the job to fail at ``fault.at_step``; a step already passed fails it now."""
    if job.status not in LIVE:
        raise InvalidTransition(job, fault.kind)
    if not 1 <= fault.at_step <= job.total_steps:
        # Past the last step the fault would land after completion, an illegal move.
        raise ValueError(f"at_step must be between 1 and {job.total_steps} (got {fault.at_step})")
    if fault.at_step <= job.steps_completed or job.status not in (
        JobStatus.pending,
        JobStatus.queued,
        JobStatus.running,
    ):
        return fail(job, now, fault.message, kind=fault.kind)
    return Transition(job.model_copy(update={"fault": fault, "updated_at": now}))
