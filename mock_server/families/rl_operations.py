"""The operations of an RL training session: forward-backward, optimizer step, sample, and saving
inference and training checkpoints. Each is asynchronous: submitting answers ``PENDING``, reading
it later ``RUNNING``, then ``COMPLETED`` with its output (or ``FAILED`` with an error).

No model runs. A session works through its operations one at a time, in the order they came,
from when it is running: each waits for the previous one, then takes its time at the service's
pace (forward-backward 5 s, optimizer step 1 s, sample 5 s, inference checkpoint 20 s, training
checkpoint 10 s). Their outputs are deterministic per operation (``rl_outputs.py``).

An operation on a session that is not active fails with ``SESSION_NOT_ACTIVE``, as do those still
unfinished when the session is stopped; a sample on a ``TRAINER_ONLY`` session fails with
``INVALID_INPUT``. Malformed batches (a loss mask or advantages not as long as the targets, GRPO
without its inputs, a KL penalty without reference log-probabilities) are 400s naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.lifecycle import Progress, status_at
from mock_server.core.timefmt import iso, parse_iso
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Family, Record, Resources
from mock_server.families.rl_outputs import check_batch, check_sample, output
from mock_server.families.rl_sessions import CREATING, RL_SESSIONS, RUNNING, ready_at, session

__all__ = ["OPERATIONS", "RL_OPERATIONS", "Done", "Saved", "find_checkpoint", "progress_of"]

_O = "TRAINING_OPERATION_STATUS_"
PENDING, WORKING, COMPLETED, FAILED = (
    f"{_O}{s}" for s in ("PENDING", "RUNNING", "COMPLETED", "FAILED")
)
WORK = {
    "forward-backward": 5.0,
    "optim-step": 1.0,
    "sample": 5.0,
    "inference-checkpoint": 20.0,
    "training-checkpoint": 10.0,
}


def _error(code: str, message: str) -> dict[str, str]:
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
            return FAILED, _error("SESSION_NOT_ACTIVE", "The training session was stopped first")
    return status, None


def _view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    owner = resources.find(RL_SESSIONS, record.tenant, record.private["session_id"])
    stopped_at = owner.private.get("stopped_at") if owner else None
    status, error = _state(record, resources.now(), stopped_at)
    body["status"] = status
    if status == COMPLETED:
        body["output"] = record.private["output"]
    if error is not None:
        body["error"] = error
    return body


RL_OPERATIONS = Family(
    kind="rl_operation",
    schema="GET /rl/training-sessions/{session_id}/operations/forward-backward/{operation_id}",
    new_id=lambda ids: ids.uuid(),
    view=_view,
)


@dataclass
class Done:
    """What a session's completed operations add up to."""

    optimizer_steps: int = 0
    inference_checkpoints: list[dict[str, Any]] = field(default_factory=list)
    training_checkpoints: list[dict[str, Any]] = field(default_factory=list)


def _operations(resources: Resources, owner: Record) -> list[Record]:
    return [
        r
        for r in resources.list(RL_OPERATIONS, owner.tenant)
        if r.private["session_id"] == owner.id
    ]


def progress_of(resources: Resources, owner: Record) -> Done:
    now, done = resources.now(), Done()
    for record in _operations(resources, owner):
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


def _submit(kind: str) -> Any:
    def submit(resources: Resources, call: Call) -> Any:
        request = call.json()
        if kind == "forward-backward":
            check_batch(request)
        if kind == "sample":
            check_sample(request)
        with resources.store.locked():
            owner = session(resources, call)
            now, state = resources.now(), resources.status(owner)
            op_id = resources.backend.ids.uuid()
            private: dict[str, Any] = {"session_id": owner.id, "kind": kind, "end": iso(now)}
            if state not in (CREATING, RUNNING):
                private["error"] = _error("SESSION_NOT_ACTIVE", f"The training session is {state}")
            elif kind == "sample" and owner.body["type"] == "SESSION_TYPE_TRAINER_ONLY":
                private["error"] = _error("INVALID_INPUT", "A TRAINER_ONLY session does not sample")
            if "error" in private:
                record = resources.create(
                    RL_OPERATIONS,
                    call.tenant,
                    private=private,
                    progress=Progress(now, (), FAILED),
                    id_=op_id,
                )
                return resources.render(RL_OPERATIONS, record)
            earlier = [r for r in _operations(resources, owner) if "error" not in r.private]
            busy = max(
                [now, ready_at(owner) or now, *(parse_iso(r.private["end"]) for r in earlier)]
            )
            work = 0.0 if math.isinf(resources.speed) else WORK[kind] / resources.speed
            end = busy + timedelta(seconds=work)
            step = owner.private["resume_step"] + sum(
                r.private["kind"] == "optim-step" for r in earlier
            )
            base, account = owner.body["base_model"], resources.backend.account
            result, saved = output(kind, op_id, step, base, account, request, end)
            private.update(end=iso(end), output=result, **({"checkpoint": saved} if saved else {}))
            progress = Progress(
                now, ((PENDING, (busy - now).total_seconds()), (WORKING, work)), COMPLETED
            )
            record = resources.create(
                RL_OPERATIONS, call.tenant, private=private, progress=progress, id_=op_id
            )
        return resources.render(RL_OPERATIONS, record)

    submit.__name__ = kind.replace("-", "_")
    return submit


def _get(kind: str) -> Any:
    def get(resources: Resources, call: Call) -> Any:
        owner = session(resources, call)
        op_id = call.path["operation_id"]
        record = resources.find(RL_OPERATIONS, call.tenant, op_id)
        if record is None or (record.private["session_id"], record.private["kind"]) != (
            owner.id,
            kind,
        ):
            raise NotFound(
                "operation", op_id, message=f"Operation {op_id} not found", param="operation_id"
            )
        return resources.render(RL_OPERATIONS, record)

    get.__name__ = f"get_{kind.replace('-', '_')}"
    return get


_BASE = "/rl/training-sessions/{session_id}/operations/"
OPERATIONS = [
    operation
    for kind in WORK
    for operation in (
        Operation(f"POST {_BASE}{kind}", _submit(kind)),
        Operation(f"GET {_BASE}{kind}/{{operation_id}}", _get(kind)),
    )
]
