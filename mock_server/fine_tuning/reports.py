"""A real training worker's reports: one JSON object per line on its stdout, one type each.

The worker (``mock_server.training.worker``) writes them, the runner
(``mock_server.real_training.runner``) parses them with :data:`REPORT`, and ``progress.py`` says
what each does to the job. Kept apart from ``progress.py`` because the worker needs only this
vocabulary, not the state machine, and the sequence reads best beside the types:

    started → step … (eval, checkpoint) … → trained → packaged → uploaded
    stopped (after a cancel)              failed

``restarted`` is the runner's own: after a server restart it says where a new worker goes on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, TypeAdapter

from mock_server.core.lazy_model import LazyModel

__all__ = [
    "REPORT",
    "Failed",
    "Packaged",
    "Report",
    "Restarted",
    "Saved",
    "Started",
    "Step",
    "Stopped",
    "Trained",
    "Uploaded",
]


class _Report(LazyModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Started(_Report):
    type: Literal["started"] = "started"
    total_steps: int
    steps_per_epoch: int
    token_count: int  # over all epochs
    param_count: int
    trainable_param_count: int
    device: str
    dtype: str
    threads: int = 0  # CPU threads the worker trains with; 0: not reported (an older worker)
    stand_in: str = "micro"  # the tiny model that trains in place of the catalogue model
    notes: list[str] = []  # what the worker changed to fit the machine, said as warnings
    init_from: str = ""  # the checkpoint a from_checkpoint job starts from ("ft-…:STEP")
    restarted: bool = False  # a worker started again after a server restart: nothing to announce


class Step(_Report):
    type: Literal["step"] = "step"
    step: int
    loss: float
    lr: float
    tokens: int
    tokens_per_s: float
    epoch: float
    seconds_per_step: float  # wall time per step so far, evaluations and saves included
    eval_loss: float | None = None  # set when the step ended with an evaluation


class Saved(_Report):
    type: Literal["checkpoint"] = "checkpoint"
    step: int
    path: str


class Trained(_Report):
    type: Literal["trained"] = "trained"
    steps_completed: int
    token_count: int
    seconds: float


class Packaged(_Report):
    type: Literal["packaged"] = "packaged"
    archives: dict[str, str]  # adapter / merged / model -> tar.zst path


class Uploaded(_Report):
    type: Literal["uploaded"] = "uploaded"
    model_path: str
    adapter_path: str = ""  # LoRA only


class Stopped(_Report):
    type: Literal["stopped"] = "stopped"
    step: int


class Failed(_Report):
    type: Literal["failed"] = "failed"
    kind: Literal["error", "user_error"] = "error"
    message: str


class Restarted(_Report):
    """The runner's, not a worker's: after a server restart a new worker goes on from the
    checkpoint at ``step`` (0: from the start), or packs the final outputs again."""

    type: Literal["restarted"] = "restarted"
    step: int
    packaging: bool = False


Report = Annotated[
    Started | Step | Saved | Trained | Packaged | Uploaded | Stopped | Failed | Restarted,
    Field(discriminator="type"),
]
# Built on the first report read (the runner's one thread), as the models are (core/lazy_model.py).
REPORT: TypeAdapter[Report] = TypeAdapter(Report, config=ConfigDict(defer_build=True))
