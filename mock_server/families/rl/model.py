"""The two kinds of record behind ``/rl/training-sessions``, declared together because each
one's view reads the other: a session's ``step`` and checkpoint lists add up its completed
operations, and an operation fails once its session was stopped before it finished.
``sessions.py``, ``operations.py`` and ``checkpoints.py`` build on this module, so the imports run
one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mock_server.core.lifecycle import Lifecycle, Move, entered_at, status_at
from mock_server.core.timefmt import parse_iso
from mock_server.families.base import Call
from mock_server.families.engine import Family, Record, Resources

__all__ = [
    "COMPLETED",
    "CREATING",
    "FAILED",
    "PENDING",
    "RL_OPERATIONS",
    "RL_SESSIONS",
    "RUNNING",
    "SESSION_STATUS",
    "WORKING",
    "Done",
    "Saved",
    "find_checkpoint",
    "failure",
    "operations_of",
    "progress_of",
    "ready_at",
    "session",
]

SESSION_STATUS = "TRAINING_SESSION_STATUS_"

CREATING, RUNNING, STOPPING, STOPPED = (
    f"{SESSION_STATUS}{s}" for s in ("CREATING", "RUNNING", "STOPPING", "STOPPED")
)

_O = "TRAINING_OPERATION_STATUS_"

PENDING, WORKING, COMPLETED, FAILED = (
    f"{_O}{s}" for s in ("PENDING", "RUNNING", "COMPLETED", "FAILED")
)


def _session_view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    done = progress_of(resources, record)
    step = record.private["resume_step"] + done.optimizer_steps
    body["step"] = str(step)
    body["inference_checkpoints"] = done.inference_checkpoints
    body["training_checkpoints"] = done.training_checkpoints
    if "policy_state" in body:  # the August spec's: no weights-sync here, so nothing pending
        body["policy_state"] = {
            "trainer_step": str(step),
            "target_weights_version": str(step),
            "applied_weights_version": str(step),
            "pending_publish": False,
        }
    return body


def failure(code: str, message: str) -> dict[str, str]:
    """An operation's ``error``, its code spelt as the spec's enum spells it."""
    return {"code": f"TRAINING_OPERATION_ERROR_CODE_{code}", "message": message}


def _state(
    record: Record, now: datetime, stopped_at: str | None
) -> tuple[str, dict[str, str] | None]:
    """The operation's status and error at ``now``: a stop fails what it interrupts."""
    assert record.progress is not None
    status = status_at(record.progress, now)
    if status == FAILED:
        return status, record.private["error"]
    if stopped_at is not None and parse_iso(record.private["end"]) > parse_iso(stopped_at):
        if now >= parse_iso(stopped_at):
            return FAILED, failure("SESSION_NOT_ACTIVE", "The training session was stopped first")
    return status, None


def _operation_view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    owner = resources.find(RL_SESSIONS, record.tenant, record.private["session_id"])
    stopped_at = owner.private.get("stopped_at") if owner else None
    status, error = _state(record, resources.now(), stopped_at)
    body["status"] = status
    if status == COMPLETED:
        body["output"] = record.private["output"]
    if error is not None:
        body["error"] = error
    return body


RL_SESSIONS = Family(
    kind="rl_session",
    schema="GET /rl/training-sessions/{session_id}",
    new_id=lambda ids: ids.uuid(),
    lifecycle=Lifecycle(
        steps=((CREATING, 60.0),),
        rest=RUNNING,
        moves={
            "stop": Move(
                steps=((STOPPING, 10.0),), rest=STOPPED, allowed=frozenset({CREATING, RUNNING})
            )
        },
    ),
    view=_session_view,
)

RL_OPERATIONS = Family(
    kind="rl_operation",
    schema="GET /rl/training-sessions/{session_id}/operations/forward-backward/{operation_id}",
    new_id=lambda ids: ids.uuid(),
    view=_operation_view,
)


def session(resources: Resources, call: Call) -> Record:
    return resources.get(RL_SESSIONS, call.tenant, call.path["session_id"], param="session_id")


def ready_at(record: Record) -> Any:
    """When the session started running (planned), or None once it was stopped first."""
    assert record.progress is not None
    return entered_at(record.progress, RUNNING)


@dataclass
class Done:
    """What a session's completed operations add up to."""

    optimizer_steps: int = 0
    inference_checkpoints: list[dict[str, Any]] = field(default_factory=list)
    training_checkpoints: list[dict[str, Any]] = field(default_factory=list)


def operations_of(resources: Resources, owner: Record) -> list[Record]:
    return [
        r
        for r in resources.list(RL_OPERATIONS, owner.tenant)
        if r.private["session_id"] == owner.id
    ]


def progress_of(resources: Resources, owner: Record) -> Done:
    now, done = resources.now(), Done()
    for record in operations_of(resources, owner):
        if _state(record, now, owner.private.get("stopped_at"))[0] != COMPLETED:
            continue
        kind, saved = record.private["kind"], record.private.get("checkpoint") or {}
        if kind == "optim-step":
            done.optimizer_steps += 1
        elif kind == "inference-checkpoint":
            registration = {
                "model_name": saved["model_name"],
                "registered_at": record.private["end"],
            }
            done.inference_checkpoints.append(
                {
                    "id": saved["id"],
                    "step": str(saved["step"]),
                    "created_at": record.private["end"],
                    "registration": registration,
                }
            )
        elif kind == "training-checkpoint":
            done.training_checkpoints.append(
                {"id": saved["id"], "step": str(saved["step"]), "created_at": record.private["end"]}
            )
    return done


@dataclass(frozen=True)
class Saved:
    kind: str  # "inference-checkpoint" or "training-checkpoint"
    step: int
    base_model: str
    lora_config: dict[str, Any]
    model_name: str | None


def find_checkpoint(resources: Resources, tenant: str, checkpoint_id: str) -> Saved | None:
    """A checkpoint of the tenant's that has been saved by now."""
    now = resources.now()
    for record in resources.list(RL_OPERATIONS, tenant):
        saved = record.private.get("checkpoint")
        if not saved or saved["id"] != checkpoint_id:
            continue
        owner = resources.find(RL_SESSIONS, tenant, record.private["session_id"])
        if owner is None or _state(record, now, owner.private.get("stopped_at"))[0] != COMPLETED:
            return None
        return Saved(
            record.private["kind"],
            saved["step"],
            owner.body["base_model"],
            owner.body["lora_config"],
            saved.get("model_name"),
        )
    return None
