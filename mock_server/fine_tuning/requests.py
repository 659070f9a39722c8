"""A fine-tune create and a price estimate as the clients send them.

One model takes both generations' bodies: 3.x sends ``training_method`` and ``training_type``
objects, 1.5.x a flat body (``lora``, ``lora_r`` ...) with ``validation_file: ""``. Unknown keys
are kept and ignored, as the service does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mock_server.core.errors import InvalidRequest
from mock_server.fine_tuning.models import Job

__all__ = [
    "CheckpointRef",
    "FineTuneRequest",
    "PriceRequest",
    "TrainOnInputs",
    "bad",
    "split_checkpoint_ref",
]

TrainOnInputs = bool | Literal["auto"]


class _Open(BaseModel):
    # Unknown keys are ignored, as the service does: newer clients send fields (such as
    # ``early_stopping_enabled``) that an older spec does not list.
    model_config = ConfigDict(extra="allow")


class FineTuneRequest(_Open):
    training_file: str
    validation_file: str | None = None
    model: str | None = None
    n_epochs: int = 1
    n_checkpoints: int = 1
    n_evals: int = 0
    batch_size: int | Literal["max"] = "max"
    learning_rate: float = 1e-5
    lr_scheduler: dict[str, Any] | None = None
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    random_seed: int | None = None
    suffix: str | None = Field(default=None, max_length=64)
    packing: bool = True
    max_seq_length: int | None = None
    train_on_inputs: TrainOnInputs | None = None
    training_method: dict[str, Any] | None = None
    training_type: dict[str, Any] | None = None
    multimodal_params: dict[str, Any] | None = None
    from_checkpoint: str | None = None
    from_hf_model: str | None = None
    hf_model_revision: str | None = None
    hf_api_token: str | None = None
    hf_output_repo_name: str | None = None
    wandb_api_key: str | None = None
    wandb_base_url: str | None = None
    wandb_project_name: str | None = None
    wandb_name: str | None = None
    wandb_entity: str | None = None
    # The 1.5.x SDK's flat fields, folded into the objects above.
    lora: bool | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    lora_trainable_modules: str | None = None


class PriceRequest(_Open):
    training_file: str
    validation_file: str | None = None
    model: str | None = None
    from_checkpoint: str | None = None
    n_epochs: int = 1
    n_evals: int = 0
    training_method: dict[str, Any] | None = None
    training_type: dict[str, Any] | None = None


@dataclass(frozen=True)
class CheckpointRef:
    job: Job
    step: int | None


def split_checkpoint_ref(ref: str) -> tuple[str, int | None]:
    """``ID``, ``NAME``, ``ID:STEP`` or ``NAME:STEP``; output names never contain ``:``."""
    head, sep, tail = ref.rpartition(":")
    if sep and tail.isdigit():
        return head, int(tail)
    return ref, None


def bad(message: str, param: str | None) -> InvalidRequest:
    """A refusal of the request naming the offending field, as Together's 400 does."""
    return InvalidRequest(message, param=param)
