"""The queue (``/queue/submit``, ``status``, ``cancel``, ``clear``, ``metrics``): jobs for a
model, taken by its worker in strict priority order, first come first served within a priority.

Nothing runs the payloads. Each model has one simulated worker that takes a job for 10 s at the
service's pace; a job is ``pending`` until the worker claims it, ``running`` while it works, then
``done`` with an output marked as the simulator's. When each job is claimed is a pure function of
the model's jobs and the clock (``claims``): a later job of higher priority goes before earlier
ones still waiting, a cancelled one is skipped. Only a pending job can be cancelled; otherwise
the answer is the spec's 409 with the job's status. ``/queue/clear`` cancels all of a model's
pending jobs at once and says how many.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.timefmt import iso, parse_iso
from mock_server.families.base import Answer, Call, Operation
from mock_server.families.engine import Family, Record, Resources, prefixed

__all__ = ["OPERATIONS", "QUEUE_JOBS", "Queued", "claims"]

RUN_SECONDS = 10.0  # one job's work, at the service's pace

QUEUE_JOBS = Family(
    kind="queue_job",
    schema="GET /queue/status",
    new_id=prefixed("req"),
    id_field="request_id",
)


@dataclass(frozen=True)
class Queued:
    id: str
    submitted: datetime
    priority: int
    run: float  # seconds of work, scaled when submitted
    canceled: datetime | None = None
    seq: int = 0  # the order of submission, for jobs submitted at the same instant


def claims(jobs: Sequence[Queued], now: datetime) -> dict[str, datetime]:
    """When the model's worker claims each job, for the claims made by ``now``: whenever it is
    free, the waiting job of highest priority, the earliest submitted among equals."""
    pending = sorted(jobs, key=lambda j: (j.submitted, j.seq))
    claimed: dict[str, datetime] = {}
    free: datetime | None = None
    while pending:
        moment = pending[0].submitted if free is None else max(free, pending[0].submitted)
        live = [j for j in pending if j.canceled is None or j.canceled > moment]
        if len(live) != len(pending):
            pending = live
            continue
        if moment > now:
            break
        ready = [j for j in pending if j.submitted <= moment]
        job = min(ready, key=lambda j: (-j.priority, j.submitted, j.seq))
        claimed[job.id] = moment
        free = moment + timedelta(seconds=job.run)
        pending.remove(job)
    return claimed


def _queued(record: Record) -> Queued:
    canceled = record.private.get("canceled_at")
    return Queued(
        id=record.id,
        submitted=record.created_at,
        priority=int(record.body.get("priority", 0)),
        run=float(record.private["run"]),
        canceled=parse_iso(canceled) if canceled else None,
        seq=record.seq,
    )


def _states(
    resources: Resources, tenant: str, model: str
) -> dict[str, tuple[Record, str, dict[str, Any]]]:
    """Each of the model's jobs with its status and the times it has reached."""
    records = [r for r in resources.list(QUEUE_JOBS, tenant) if r.body["model"] == model]
    now = resources.now()
    claimed = claims([_queued(r) for r in records], now)
    states = {}
    for record in records:
        times: dict[str, Any] = {}
        if record.private.get("canceled_at"):
            status = "canceled"
        elif record.id in claimed:
            start = claimed[record.id]
            end = start + timedelta(seconds=float(record.private["run"]))
            times["claimed_at"] = iso(start)
            status = "running"
            if end <= now:
                status, times["done_at"] = "done", iso(end)
        else:
            status = "pending"
        states[record.id] = (record, status, times)
    return states


def _job(
    resources: Resources, tenant: str, request_id: str, model: str
) -> tuple[Record, str, dict[str, Any]]:
    found = _states(resources, tenant, model).get(request_id)
    if found is None:
        raise NotFound(
            "request",
            request_id,
            message=f"Request {request_id} not found for model {model}",
            param="request_id",
        )
    return found


def submit(resources: Resources, call: Call) -> Any:
    request = call.json()
    fields = {
        "model": request["model"],
        "priority": request.get("priority", 0),
        "inputs": request["payload"],
        "info": request.get("info", {}),
        "retries": 0,
    }
    run = 0.0 if math.isinf(resources.speed) else RUN_SECONDS / resources.speed
    record = resources.create(QUEUE_JOBS, call.tenant, fields=fields, private={"run": run})
    return {"requestId": record.id}


def status(resources: Resources, call: Call) -> Any:
    record, state, times = _job(
        resources, call.tenant, call.query["request_id"], call.query["model"]
    )
    body = {**resources.render(QUEUE_JOBS, record), "status": state, **times}
    if state == "done":
        body["outputs"] = {
            "simulated": True,
            "message": "together-sim does not run queue jobs: this output is simulated",
        }
    return body


def cancel(resources: Resources, call: Call) -> Any:
    request = call.json()
    with resources.store.transaction():
        record, state, _ = _job(resources, call.tenant, request["request_id"], request["model"])
        if state == "pending":
            resources.update(QUEUE_JOBS, record, private={"canceled_at": iso(resources.now())})
            state = "canceled"
    if state != "canceled":
        return Answer({"status": state}, 409)
    return {"status": state}


def clear(resources: Resources, call: Call) -> Any:
    """Cancel every job of the model still waiting for its worker (``POST /queue/clear``); a
    running or finished one is left as it is, as a cancel would leave it."""
    model = call.json()["model"]
    with resources.store.transaction():
        waiting = [
            record
            for record, state, _ in _states(resources, call.tenant, model).values()
            if state == "pending"
        ]
        for record in waiting:
            resources.update(QUEUE_JOBS, record, private={"canceled_at": iso(resources.now())})
    return {"canceled_count": len(waiting)}


def metrics(resources: Resources, call: Call) -> Any:
    states = [s for _, s, _ in _states(resources, call.tenant, call.query["model"]).values()]
    waiting, running = states.count("pending"), states.count("running")
    return {
        "messages_running": running,
        "messages_waiting": waiting,
        "total_jobs": waiting + running,
    }


OPERATIONS = [
    Operation("POST /queue/submit", submit, "submit_queue_job"),
    Operation("GET /queue/status", status, "queue_job_status"),
    Operation("POST /queue/cancel", cancel, "cancel_queue_job"),
    Operation("GET /queue/metrics", metrics, "queue_metrics"),
    Operation("POST /queue/clear", clear, "clear_queue"),
]
