"""What ``lora.train`` tells its caller: a report per event of the run, and the result.

Plain frozen dataclasses, kept apart from the loop so that a reader of the worker (which turns them
into the server's JSON reports, ``mock_server.fine_tuning.reports``) sees the whole vocabulary
without reading the loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CheckpointReport", "EvalReport", "StartReport", "StepReport", "TrainResult"]


@dataclass(frozen=True)
class StartReport:
    """What is known once the base, the data and the trainable model are ready."""

    total_steps: int
    steps_per_epoch: int
    resumed_at: int  # steps already done (a resumed run), else 0
    tokens_per_epoch: int  # non-padding tokens in the training rows
    param_count: int
    trainable_param_count: int
    device: str
    dtype: str
    threads: int  # torch's CPU threads (what ``worker_threads`` set, else every core)


@dataclass(frozen=True)
class StepReport:
    step: int  # optimizer steps done, from 1
    total_steps: int
    loss: float
    lr: float  # the rate this step trained at
    grad_norm: float  # before clipping
    tokens: int  # non-padding tokens in the batch
    tokens_per_s: float
    epoch: float  # step / steps_per_epoch; whole at the end of an epoch
    metrics: Mapping[str, float] = field(default_factory=dict)  # DPO rewards/*


@dataclass(frozen=True)
class EvalReport:
    step: int
    total_steps: int
    loss: float


@dataclass(frozen=True)
class CheckpointReport:
    step: int
    total_steps: int
    path: Path  # adapter (or full weights) plus trainer_state.pt; pass it as resume_from


@dataclass(frozen=True)
class TrainResult:
    total_steps: int
    steps_completed: int
    steps_per_epoch: int
    stopped: bool  # should_stop() ended the run; nothing final was saved
    losses: tuple[float, ...]  # one per completed step, resumed steps included
    eval_losses: tuple[tuple[int, float], ...]
    checkpoints: tuple[CheckpointReport, ...]
    base_dir: Path  # the base model and tokenizer (load_base / generate)
    adapter_dir: Path | None  # adapter_model.safetensors + adapter_config.json (LoRA)
    merged_dir: Path | None  # base with the adapter merged, when save_merged
    model_dir: Path | None  # full fine-tuning output
    token_count: int  # non-padding tokens trained on in this call
    param_count: int
    trainable_param_count: int
    device: str
    dtype: str
    seconds: float
