"""RL training sessions (``/rl/training-sessions``): a trainer (and a generator) for a base model
that a client drives step by step with operations (``rl_operations.py``).

A session walks ``CREATING`` (60 s at the service's pace) to ``RUNNING``; ``stop`` walks it through
``STOPPING`` (10 s) to ``STOPPED``, and the operations not finished when the stop was asked fail
with ``SESSION_NOT_ACTIVE``. Its ``step`` counts the optimizer steps completed (from the resumed
checkpoint's step), and its checkpoint lists hold the checkpoints its operations saved. Resuming
(``resume_from_checkpoint_id``) needs a training checkpoint of the tenant's, of the same base model.
The list is newest first, ``limit`` (1-100, default 20) at a time after the ``after`` cursor.
"""

from __future__ import annotations

from typing import Any

from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.lifecycle import Lifecycle, Move, entered_at
from mock_server.core.timefmt import iso
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Family, Record, Resources

__all__ = ["CREATING", "OPERATIONS", "RL_SESSIONS", "RUNNING", "ready_at", "session"]

_S = "TRAINING_SESSION_STATUS_"
CREATING, RUNNING, STOPPING, STOPPED = (
    f"{_S}{s}" for s in ("CREATING", "RUNNING", "STOPPING", "STOPPED")
)
_LORA_DEFAULTS = {"rank": 8, "alpha": 16, "dropout": 0.05}  # the spec's defaults


def _view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    from mock_server.families.rl_operations import progress_of  # operations read sessions too

    done = progress_of(resources, record)
    body["step"] = str(record.private["resume_step"] + done.optimizer_steps)
    body["inference_checkpoints"] = done.inference_checkpoints
    body["training_checkpoints"] = done.training_checkpoints
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
    view=_view,
)


def session(resources: Resources, call: Call) -> Record:
    return resources.get(RL_SESSIONS, call.tenant, call.path["session_id"], param="session_id")


def ready_at(record: Record) -> Any:
    """When the session started running (planned), or None once it was stopped first."""
    assert record.progress is not None
    return entered_at(record.progress, RUNNING)


def _resumed_step(resources: Resources, tenant: str, request: dict[str, Any]) -> int:
    from mock_server.families.rl_operations import find_checkpoint

    ref = request.get("resume_from_checkpoint_id")
    if ref is None:
        return 0
    found = find_checkpoint(resources, tenant, ref)
    if found is None:
        raise NotFound(
            "checkpoint",
            ref,
            message=f"Checkpoint {ref} not found",
            param="resume_from_checkpoint_id",
        )
    if found.kind != "training-checkpoint":
        raise InvalidRequest(
            f"Checkpoint {ref} is an inference checkpoint: a session resumes from a training "
            "checkpoint",
            param="resume_from_checkpoint_id",
        )
    if found.base_model != request["base_model"]:
        raise InvalidRequest(
            f"Checkpoint {ref} was saved from {found.base_model}, not {request['base_model']}",
            param="resume_from_checkpoint_id",
        )
    return found.step


def start_session(resources: Resources, call: Call) -> Any:
    request = call.json()
    step = _resumed_step(resources, call.tenant, request)
    kind = request.get("type", "SESSION_TYPE_UNSPECIFIED")
    fields: dict[str, Any] = {
        "lora_config": {**_LORA_DEFAULTS, **request.get("lora_config", {})},
        "type": "SESSION_TYPE_TRAINER_AND_GENERATOR"
        if kind == "SESSION_TYPE_UNSPECIFIED"
        else kind,
        "inference_checkpoints": [],
        "training_checkpoints": [],
        "step": str(step),
    }
    record = resources.create(
        RL_SESSIONS, call.tenant, request=request, fields=fields, private={"resume_step": step}
    )
    return resources.render(RL_SESSIONS, record)


def get_session(resources: Resources, call: Call) -> Any:
    return resources.render(RL_SESSIONS, session(resources, call))


def stop_session(resources: Resources, call: Call) -> Any:
    record = session(resources, call)
    moved = resources.move(RL_SESSIONS, record, "stop")
    if moved is not record and "stopped_at" not in record.private:
        moved = resources.update(RL_SESSIONS, moved, private={"stopped_at": iso(resources.now())})
    return resources.render(RL_SESSIONS, moved)


def list_sessions(resources: Resources, call: Call) -> Any:
    limit = call.query.get("limit", 20)
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be between 1 and 100", param="limit")
    bodies = [
        resources.render(RL_SESSIONS, r) for r in reversed(resources.list(RL_SESSIONS, call.tenant))
    ]
    wanted = call.query.get("status")
    if wanted not in (None, f"{_S}UNSPECIFIED"):
        bodies = [b for b in bodies if b["status"] == wanted]
    after = call.query.get("after")
    if after:
        ids = [b["id"] for b in bodies]
        if after not in ids:
            raise InvalidRequest(f"Unknown cursor {after}", param="after")
        bodies = bodies[ids.index(after) + 1 :]
    page, more = bodies[:limit], len(bodies) > limit
    meta = {"limit": limit, "has_more": more, "next_cursor": page[-1]["id"] if more else ""}
    return {"data": page, "meta": meta}


OPERATIONS = [
    Operation("POST /rl/training-sessions", start_session, "start_training_session"),
    Operation("GET /rl/training-sessions", list_sessions, "list_training_sessions"),
    Operation("GET /rl/training-sessions/{session_id}", get_session, "get_training_session"),
    Operation(
        "POST /rl/training-sessions/{session_id}/stop", stop_session, "stop_training_session"
    ),
]
