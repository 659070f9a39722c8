"""A fine-tune create and a price estimate as the clients send them.

One model takes both generations' bodies: 3.x sends ``training_method`` and ``training_type``
objects, 1.5.x a flat body (``lora``, ``lora_r`` ...) with ``validation_file: ""``. Unknown keys
are kept and ignored, as the service does. The estimate's body is the same model, so an estimate
is checked as the create it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from mock_server.core.errors import InvalidRequest
from mock_server.core.lazy_model import LazyModel
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

# The service's integers are 64-bit (the overlay gives the spec's fields ``format: int64``); the
# 1.5.x SDK's flat fields are in no schema, so their width is held here.
Int64 = Annotated[int, Field(ge=-(2**63), lt=2**63)]


class _Open(LazyModel):
    # Unknown keys are ignored, as the service does: newer clients send fields (such as
    # ``early_stopping_enabled``) that an older spec does not list. NaN and infinities are
    # refused here too, not only by the spec check: a job that kept one could not be read back.
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class FineTuneRequest(_Open):
    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py
    training_file: str
    validation_file: str | None = None
    model: str | None = None
    n_epochs: Int64 = 1
    n_checkpoints: Int64 = 1
    n_evals: Int64 = 0
    batch_size: Int64 | Literal["max"] = "max"
    learning_rate: float = 1e-5
    lr_scheduler: dict[str, Any] | None = None
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    random_seed: Int64 | None = None
    suffix: str | None = Field(default=None, max_length=64)
    packing: bool = True
    max_seq_length: Int64 | None = None
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
    lora_r: Int64 | None = None
    lora_alpha: Int64 | None = None
    lora_dropout: float | None = None
    lora_trainable_modules: str | None = None


class PriceRequest(FineTuneRequest):
    """The estimate's body. The clients send a part of the create's (file, model, epochs,
    evaluations, method and type); the 1.5.x SDK and the 3.x CLI ask for it with the values they
    then create with, so any create field sent is read, and checked, as the create reads it."""


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
