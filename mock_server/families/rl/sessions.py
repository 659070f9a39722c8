"""RL training sessions (``/rl/training-sessions``): a trainer (and a generator) for a base model
that a client drives step by step with operations (``operations.py``).

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
from mock_server.core.timefmt import iso
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Resources
from mock_server.families.rl.model import RL_SESSIONS, SESSION_STATUS, find_checkpoint, session

__all__ = ["OPERATIONS"]

_LORA_DEFAULTS = {"rank": 8, "alpha": 16, "dropout": 0.05}  # the spec's defaults


def _resumed_step(resources: Resources, tenant: str, request: dict[str, Any]) -> int:
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
    if wanted not in (None, f"{SESSION_STATUS}UNSPECIFIED"):
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
