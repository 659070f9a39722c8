"""The fine-tuning job and its state machine, pure.

A job's whole future is decided when it is created: from its size (steps, epochs, checkpoints,
evals) and the timeline, ``plan`` lists every milestone (a status change, an event, a checkpoint)
at its due time. ``advance(job, now)`` applies the milestones that are due and returns the new
frozen job with what it emitted; nothing here reads a clock, touches the store or logs. Reads are
lazy, as in moto: the service calls ``advance`` with the clock's time whenever a job is looked at.

    pending → queued → running → compressing → uploading → completed
       └──────────┴───────┴──────────┴────────────┴──→ cancel_requested → cancelled
       └──────────┴───────┴──────────┴────────────┴──→ error | user_error

A cancel or an injected fault cuts the plan: milestones after that moment never happen.

A job whose ``trainer`` is ``"real"`` is planned only up to the start of training (queued, running,
the downloads). From there its progress comes from a training worker's reports, which
``mock_server.fine_tuning.progress.apply_report`` applies; ``plan.in_training`` says a job has got
that far.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from mock_server.fine_tuning.course import step_at, step_time
from mock_server.fine_tuning.events import Checkpoint, Event, EventType
from mock_server.fine_tuning.metrics import metrics_upto
from mock_server.fine_tuning.models import (
    FAILED,
    LIVE,
    TERMINAL,
    TRANSITIONS,
    Fault,
    InvalidTransition,
    Job,
    JobStatus,
    Transition,
)
from mock_server.fine_tuning.plan import eval_steps, job_event, plan
from mock_server.fine_tuning.timing import moments

__all__ = ["advance", "fail", "inject_fault", "request_cancel", "set_trainer", "status_after"]


def _status_after(job: Job, status: JobStatus, at: datetime) -> Job:
    if status not in TRANSITIONS[job.status]:
        raise InvalidTransition(job, status)
    started = at if status is JobStatus.running else job.started_at
    return job.model_copy(update={"status": status, "updated_at": at, "started_at": started})


# For ``progress.py``, which moves jobs on a worker's reports with the same rules and event fields.
status_after = _status_after


def advance(job: Job, now: datetime) -> Transition:
    """Apply every milestone due by ``now``."""
    if job.status in TERMINAL:
        return Transition(job)
    cursor = job.cursor
    due = moments(job)  # the whole plan only when a milestone is due: most reads find none
    milestones = plan(job) if cursor < len(due) and due[cursor] <= now else []
    events: list[Event] = []
    checkpoints: list[Checkpoint] = []
    while cursor < len(milestones) and milestones[cursor].at <= now:
        m = milestones[cursor]
        if m.status is not None:
            job = _status_after(job, m.status, m.at)
        if m.event is not None:
            events.append(m.event)
        if m.checkpoint is not None:
            checkpoints.append(m.checkpoint)
        cursor += 1
    if job.trainer == "real":  # steps, metrics and the end come from the worker's reports
        updates_real: dict[str, Any] = {"cursor": cursor}
        if job.status in FAILED:
            updates_real["failed_at"] = job.updated_at
            updates_real["failure_message"] = events[-1].message if events else job.failure_message
        return Transition(job.model_copy(update=updates_real), events, checkpoints)
    horizon = now if job.cancel_requested_at is None else min(now, job.cancel_requested_at)
    if job.fault is not None:
        horizon = min(horizon, step_time(job, job.fault.at_step))
    if job.cancel_requested_at is not None:
        # Training stopped at the cancel, with the steps the job had then (``request_cancel``
        # takes a job advanced to that moment, or, on the instant clock, one never read).
        steps = job.steps_completed
    else:
        steps = step_at(job, horizon) if job.status is not JobStatus.pending else 0
    metrics = metrics_upto(job, steps)
    updates: dict[str, Any] = {
        "cursor": cursor,
        "steps_completed": steps,
        "epochs_completed": min(job.n_epochs, steps // max(1, job.steps_per_epoch)),
        "evals_completed": sum(1 for s in eval_steps(job) if s <= steps),
        "metrics_logged_to": max(job.metrics_logged_to, steps),
    }
    if job.status in FAILED:
        updates["failed_at"] = job.updated_at
        updates["failure_message"] = events[-1].message if events else job.failure_message
    return Transition(job.model_copy(update=updates), events, checkpoints, metrics)


def request_cancel(job: Job, now: datetime) -> Transition:
    """Ask a live job to stop. Call it on a job already advanced to ``now``."""
    if job.status not in LIVE or job.status is JobStatus.cancel_requested:
        raise InvalidTransition(job, JobStatus.cancel_requested)
    moved = _status_after(job, JobStatus.cancel_requested, now)
    moved = moved.model_copy(update={"cancel_requested_at": now})
    event = job_event(
        job, now, EventType.cancel_requested, "Job cancellation requested", step=job.steps_completed
    )
    return Transition(moved, [event])


def fail(
    job: Job, now: datetime, message: str, *, kind: Literal["error", "user_error"] = "error"
) -> Transition:
    """End a live job in ``error`` or ``user_error`` now."""
    status = JobStatus(kind)
    moved = _status_after(job, status, now)
    moved = moved.model_copy(update={"failed_at": now, "failure_message": message})
    type_ = EventType.job_error if status is JobStatus.error else EventType.job_user_error
    return Transition(
        moved, [job_event(job, now, type_, message, level="error", step=job.steps_completed)]
    )


def set_trainer(job: Job, trainer: Literal["synthetic", "real"]) -> Transition:
    """Choose who trains the job: the synthetic timeline or a real worker. Only before it runs,
    while both plans are still the same (the real one is the synthetic one cut at training)."""
    if job.status not in (JobStatus.pending, JobStatus.queued):
        raise InvalidTransition(job, f"a {trainer}-trainer job (only while pending or queued)")
    return Transition(job.model_copy(update={"trainer": trainer}))


def inject_fault(job: Job, fault: Fault, now: datetime) -> Transition:
    """Arrange for the job to fail at ``fault.at_step``; a step already passed fails it now."""
    if job.status not in LIVE:
        raise InvalidTransition(job, fault.kind)
    if not 1 <= fault.at_step <= job.total_steps:
        # Past the last step the fault would land after completion, an illegal move.
        raise ValueError(f"at_step must be between 1 and {job.total_steps} (got {fault.at_step})")
    if fault.at_step <= job.steps_completed or job.status not in (
        JobStatus.pending,
        JobStatus.queued,
        JobStatus.running,
    ):
        return fail(job, now, fault.message, kind=fault.kind)
    return Transition(job.model_copy(update={"fault": fault, "updated_at": now}))
