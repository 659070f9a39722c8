"""Fine-tune events, checkpoints and metric points: what a job leaves behind as it runs.

Event types are kept in the spec's lower case. The 1.5.x SDK validates ``type`` against an upper
case enum of its own (with ``COMPRESSING_MODEL`` for the spec's ``model_compressing``) and fails on
anything else, while the spec and the 3.x SDK use lower case; so the casing is chosen per request
(see ``render_event``), not per job.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from pydantic import ConfigDict

from mock_server.core.lazy_model import LazyModel
from mock_server.core.timefmt import iso

__all__ = ["Checkpoint", "Event", "EventLevel", "EventType", "Metric", "render_event"]


class EventType(StrEnum):
    job_pending = "job_pending"
    job_start = "job_start"
    job_stopped = "job_stopped"
    model_downloading = "model_downloading"
    model_download_complete = "model_download_complete"
    training_data_downloading = "training_data_downloading"
    training_data_download_complete = "training_data_download_complete"
    validation_data_downloading = "validation_data_downloading"
    validation_data_download_complete = "validation_data_download_complete"
    wandb_init = "wandb_init"
    training_start = "training_start"
    checkpoint_save = "checkpoint_save"
    billing_limit = "billing_limit"
    epoch_complete = "epoch_complete"
    eval_complete = "eval_complete"  # in the 1.5.x enum, not in the spec's
    training_complete = "training_complete"
    model_compressing = "model_compressing"
    model_compression_complete = "model_compression_complete"
    model_uploading = "model_uploading"
    model_upload_complete = "model_upload_complete"
    job_complete = "job_complete"
    job_error = "job_error"
    job_user_error = "job_user_error"  # in the 1.5.x enum, not in the spec's
    cancel_requested = "cancel_requested"
    job_restarted = "job_restarted"
    refund = "refund"
    warning = "warning"

    @property
    def v1_name(self) -> str:
        """The spelling the 1.5.x SDK's ``FinetuneEventType`` accepts."""
        if self is EventType.model_compressing:
            return "COMPRESSING_MODEL"
        return self.value.upper()


EventLevel = Literal["info", "warning", "error"]


class Event(LazyModel):
    model_config = ConfigDict(frozen=True)

    created_at: datetime
    type: EventType
    message: str
    level: EventLevel = "info"
    step: int = 0
    token_count: int = 0
    param_count: int = 0
    total_steps: int = 0
    checkpoint_path: str = ""
    model_path: str = ""
    training_offset: int = 0
    wandb_url: str = ""

    @property
    def hash(self) -> str:
        return _event_hash(self.created_at, self.type, self.message, self.step)


@lru_cache(maxsize=16384)  # every read of a job renders all its events again
def _event_hash(created_at: datetime, type: EventType, message: str, step: int) -> str:
    raw = f"{iso(created_at)}|{type}|{message}|{step}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def render_event(event: Event, *, upper_case_types: bool = False) -> dict[str, Any]:
    return {
        "object": "fine-tune-event",
        "created_at": iso(event.created_at),
        "level": event.level,
        "message": event.message,
        "type": event.type.v1_name if upper_case_types else event.type.value,
        "param_count": event.param_count,
        "token_count": event.token_count,
        "total_steps": event.total_steps,
        "wandb_url": event.wandb_url,
        "step": event.step,
        "checkpoint_path": event.checkpoint_path,
        "model_path": event.model_path,
        "training_offset": event.training_offset,
        "hash": event.hash,
    }


class Checkpoint(LazyModel):
    """One saved checkpoint. ``kind`` is ``"adapter"`` or ``"model"`` (the 3.x ``checkpoint``)."""

    model_config = ConfigDict(frozen=True)

    step: int
    created_at: datetime
    checkpoint_type: str  # "Intermediate", "Final", "Final Merged", "Final Adapter"
    path: str
    kind: Literal["adapter", "model"]

    def render(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "path": self.path,
            "created_at": iso(self.created_at),
            "checkpoint_type": self.checkpoint_type,
            "checkpoint": self.kind,
        }


class Metric(LazyModel):
    """One logged point of ``/fine-tunes/{id}/metrics``: a flat map of scalars at a step."""

    model_config = ConfigDict(frozen=True)

    step: int
    logged_at: datetime
    values: dict[str, float]
