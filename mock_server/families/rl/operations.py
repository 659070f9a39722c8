"""The operations of an RL training session: forward-backward, optimizer step, sample, and saving
inference and training checkpoints. Each is asynchronous: submitting answers ``PENDING``, reading
it later ``RUNNING``, then ``COMPLETED`` with its output (or ``FAILED`` with an error).

No model runs. A session works through its operations one at a time, in the order they came,
from when it is running: each waits for the previous one, then takes its time at the service's
pace (forward-backward 5 s, optimizer step 1 s, sample 5 s, inference checkpoint 20 s, training
checkpoint 10 s). Their outputs are deterministic per operation (``outputs.py``).

An operation on a session that is not active fails with ``SESSION_NOT_ACTIVE``, as do those still
unfinished when the session is stopped; a sample on a ``TRAINER_ONLY`` session fails with
``INVALID_INPUT``. Malformed batches (a loss mask or advantages not as long as the targets, GRPO
without its inputs, a KL penalty without reference log-probabilities) are 400s naming the field.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.lifecycle import Progress
from mock_server.core.timefmt import iso, parse_iso
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Resources
from mock_server.families.rl.model import (
    COMPLETED,
    CREATING,
    FAILED,
    PENDING,
    RL_OPERATIONS,
    RUNNING,
    WORKING,
    failure,
    operations_of,
    ready_at,
    session,
)
from mock_server.families.rl.outputs import check_batch, check_sample, output

__all__ = ["OPERATIONS", "WORK"]

WORK = {
    "forward-backward": 5.0,
    "optim-step": 1.0,
    "sample": 5.0,
    "inference-checkpoint": 20.0,
    "training-checkpoint": 10.0,
}


def _submit(kind: str) -> Any:
    def submit(resources: Resources, call: Call) -> Any:
        request = call.json()
        if kind == "forward-backward":
            check_batch(request)
        if kind == "sample":
            check_sample(request)
        with resources.store.transaction():
            owner = session(resources, call)
            now, state = resources.now(), resources.status(owner)
            op_id = resources.ids.uuid()
            private: dict[str, Any] = {"session_id": owner.id, "kind": kind, "end": iso(now)}
            if state not in (CREATING, RUNNING):
                private["error"] = failure("SESSION_NOT_ACTIVE", f"The training session is {state}")
            elif kind == "sample" and owner.body.get("type") == "SESSION_TYPE_TRAINER_ONLY":
                private["error"] = failure(
                    "INVALID_INPUT", "A TRAINER_ONLY session does not sample"
                )
            if "error" in private:
                record = resources.create(
                    RL_OPERATIONS,
                    call.tenant,
                    private=private,
                    progress=Progress(now, (), FAILED),
                    id_=op_id,
                )
                return resources.render(RL_OPERATIONS, record)
            earlier = [r for r in operations_of(resources, owner) if "error" not in r.private]
            busy = max(
                [now, ready_at(owner) or now, *(parse_iso(r.private["end"]) for r in earlier)]
            )
            work = 0.0 if math.isinf(resources.speed) else WORK[kind] / resources.speed
            end = busy + timedelta(seconds=work)
            step = owner.private["resume_step"] + sum(
                r.private["kind"] == "optim-step" for r in earlier
            )
            base, account = owner.body["base_model"], resources.account
            result, saved = output(
                kind, op_id, step, base, account, request, end, august=_august(resources)
            )
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


def _august(resources: Resources) -> bool:
    """Whether the served spec is the August one, whose sample output is ``results`` (with
    policy segments) and whose checkpoint outputs name their checkpoint; April's is
    ``rollouts``."""
    schema = resources.schema(f"GET {_BASE}sample/{{operation_id}}")
    output_schema = schema.get("properties", {}).get("output", {})
    return "results" in output_schema.get("properties", {})


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
