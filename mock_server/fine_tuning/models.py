"""The fine-tuning job as the state machine sees it: its statuses and the moves allowed between
them, the timeline that paces it, and the frozen ``Job`` record with what a move emits.

Kept apart from the plan (``plan.py``) and the moves (``machine.py``) so the store and the
routes can name a job without pulling in how it evolves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, model_validator

from mock_server.core.lazy_model import LazyModel
from mock_server.fine_tuning.events import Checkpoint, Event, Metric

__all__ = [
    "FAILED",
    "LIVE",
    "TERMINAL",
    "TRANSITIONS",
    "Fault",
    "InvalidTransition",
    "Job",
    "JobStatus",
    "Milestone",
    "NANODOLLARS_PER_CENT",
    "Timeline",
    "Transition",
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


NANODOLLARS_PER_CENT = 10_000_000
_S = JobStatus
TERMINAL: frozenset[JobStatus] = frozenset({_S.cancelled, _S.error, _S.user_error, _S.completed})
LIVE: frozenset[JobStatus] = frozenset(JobStatus) - TERMINAL
FAILED = frozenset({_S.error, _S.user_error})

TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    _S.pending: frozenset({_S.queued, _S.cancel_requested}) | FAILED,
    _S.queued: frozenset({_S.running, _S.cancel_requested}) | FAILED,
    _S.running: frozenset({_S.compressing, _S.cancel_requested}) | FAILED,
    _S.compressing: frozenset({_S.uploading, _S.cancel_requested}) | FAILED,
    _S.uploading: frozenset({_S.completed, _S.cancel_requested}) | FAILED,
    _S.cancel_requested: frozenset({_S.cancelled}) | FAILED,
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


class Timeline(LazyModel):
    """Seconds each phase takes at the real service's pace; ``speed`` divides them all.

    ``instant()`` makes every duration zero, so a job is finished by the first read (and a
    cancel or a control that comes before any read acts on the job as created).
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

    @property
    def is_instant(self) -> bool:
        """The instant clock's timeline: jobs move only when they are read."""
        return math.isinf(self.speed)

    def seconds(self, phase: str) -> float:
        value: float = getattr(self, phase)
        return 0.0 if math.isinf(self.speed) else value / self.speed

    def durations(self) -> dict[str, float]:
        """Every phase, scaled: what a job is planned with (and keeps, whatever the speed later)."""
        return {phase: self.seconds(phase) for phase in type(self).model_fields if phase != "speed"}


class Fault(LazyModel):
    """A failure injected through the controls: the job dies when it reaches ``at_step``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["error", "user_error"] = "error"
    at_step: int
    message: str = "Simulated failure injected through /_sim"


class Job(LazyModel):
    """A fine-tuning job: the request as resolved at creation, plus where it has got to.

    Field names are the spec's (``FinetuneResponse``) wherever the spec has one; the fields after
    ``# -- simulator state`` never leave the server. A NaN or an infinity is refused on the way
    in: JSON has neither, so a job holding one would be stored as ``null`` and never read back.
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

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
    # Nano-dollars (1e-9 USD): both SDK lines print it through ``finetune_price_to_dollars``,
    # which divides by 10**9, so cents would show every job as $0.00.
    total_price: int = 0
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
    price_unit: Literal["nanodollar"] = "nanodollar"  # absent from jobs stored in US cents

    @model_validator(mode="after")
    def _cents_to_nanodollars(self) -> Job:
        """A job stored before prices were nano-dollars kept them in US cents and carries no
        ``price_unit``: read, it is converted, so an old data dir shows its prices right.
        After validation rather than before, which would cost every read of a job (the polls)
        pydantic's direct JSON path: a third of the parse."""
        fields = self.model_fields_set
        if "price_unit" not in fields and "total_price" in fields:
            # The model is frozen; this is its own construction, nothing has seen it yet.
            self.__dict__["total_price"] = self.total_price * NANODOLLARS_PER_CENT
        return self

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
