"""RL training sessions (``/rl/training-sessions``): a trainer (and a generator) for a base model
that a client drives step by step with operations (``operations.py``).

Two spec generations shape a session. The April spec's start names its ``base_model`` (and a
``type``); the August one (SDK 3.x) names the ``model_resources_id`` it attaches to, and its
session adds ``created_by``, ``metadata``, ``model_resources_id`` and a ``policy_state``. The
simulator keeps no model resources (the spec's generic answers serve them), so a session without
a ``base_model`` of its own trains ``STAND_IN_BASE``. Fields the served schema has not got are
left out.

A session walks ``CREATING`` (60 s at the service's pace) to ``RUNNING``; ``stop`` walks it through
``STOPPING`` (10 s) to ``STOPPED``, and the operations not finished when the stop was asked fail
with ``SESSION_NOT_ACTIVE``. Its ``step`` counts the optimizer steps completed (from the resumed
checkpoint's step), and its checkpoint lists hold the checkpoints its operations saved. Resuming
(``resume_from_checkpoint_id``) needs a training checkpoint of the tenant's, of the same base model.
A ``lora_config.rank`` is from 1 to ``MAX_LORA_RANK`` (a 400 naming it otherwise): the spec bounds
it only as an integer, and the adapter a checkpoint downloads has that many rows.
The list is newest first, ``limit`` (1-100, default 20; 0 is the default) at a time after the
``after`` cursor.
"""

from __future__ import annotations

from typing import Any

from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.timefmt import iso
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Resources
from mock_server.families.rl.model import RL_SESSIONS, SESSION_STATUS, find_checkpoint, session

__all__ = ["MAX_LORA_RANK", "OPERATIONS", "STAND_IN_BASE"]

_LORA_DEFAULTS = {"rank": 8, "alpha": 16, "dropout": 0.05}  # the spec's defaults
# The August spec's RL.ModelLoraModeConfig example (max_rank 64), as for fine-tuning's models.
MAX_LORA_RANK = 64
# The base of a session that attaches to model resources (the August spec's RL.SupportedModel
# example): the simulator keeps no model resources to read the base off.
STAND_IN_BASE = "Qwen/Qwen3-0.6B"


def _resumed_step(resources: Resources, tenant: str, request: dict[str, Any], base: str) -> int:
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
    if found.base_model != base:
        raise InvalidRequest(
            f"Checkpoint {ref} was saved from {found.base_model}, not {base}",
            param="resume_from_checkpoint_id",
        )
    return found.step


def _lora_config(request: dict[str, Any]) -> dict[str, Any]:
    config = {**_LORA_DEFAULTS, **request.get("lora_config", {})}
    rank = config["rank"]
    if not 1 <= int(rank) <= MAX_LORA_RANK:
        raise InvalidRequest(
            f"lora_config.rank must be from 1 to {MAX_LORA_RANK} (got {rank})",
            param="lora_config.rank",
        )
    return config


def start_session(resources: Resources, call: Call) -> Any:
    request = call.json()
    base = str(request.get("base_model") or STAND_IN_BASE)
    lora_config = _lora_config(request)
    step = _resumed_step(resources, call.tenant, request, base)
    kind = request.get("type", "SESSION_TYPE_UNSPECIFIED")
    fields: dict[str, Any] = {
        "base_model": base,
        "lora_config": lora_config,
        "type": "SESSION_TYPE_TRAINER_AND_GENERATOR"
        if kind == "SESSION_TYPE_UNSPECIFIED"
        else kind,
        "inference_checkpoints": [],
        "training_checkpoints": [],
        "step": str(step),
        "created_by": call.tenant,
        "metadata": request.get("metadata", {}),
    }
    described = resources.schema(RL_SESSIONS.schema).get("properties", {})
    fields = {name: value for name, value in fields.items() if name in described}
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
    limit = call.query.get("limit") or 20  # 0 is unset (gRPC-gateway): the default page
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be between 1 and 100", param="limit")
    bodies = [
        resources.render(RL_SESSIONS, r) for r in reversed(resources.list(RL_SESSIONS, call.tenant))
    ]
    wanted = call.query.get("status")  # one status (April), or several (August)
    statuses = set(wanted if isinstance(wanted, list) else [wanted]) - {
        None,
        f"{SESSION_STATUS}UNSPECIFIED",
    }
    if statuses:
        bodies = [b for b in bodies if b["status"] in statuses]
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
