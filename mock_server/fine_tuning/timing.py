"""When a job next changes, from its plan (``plan.py``): the moments its milestones are due, its
end, the ticks of ``seconds_remaining``, and so how long a read of it stays the same. The reads of
a live job ask these on every poll, so they work from the plan's remembered moments and build the
whole plan only where a fault or a cancel cuts it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from mock_server.fine_tuning.course import step_time
from mock_server.fine_tuning.models import TERMINAL, Job
from mock_server.fine_tuning.plan import fault_due, in_training, plan, uncut_moments

__all__ = [
    "end_time",
    "expected_end",
    "moments",
    "moves_at",
    "seconds_remaining",
    "unchanged_until",
]


def moments(job: Job) -> Sequence[datetime]:
    """When each milestone of ``plan(job)`` is due (``[m.at for m in plan(job)]``): without
    working out the whole plan where no fault or cancel cuts it."""
    if not fault_due(job) and job.cancel_requested_at is None:  # what plan() would not cut
        return uncut_moments(job)
    return [m.at for m in plan(job)]


def end_time(job: Job) -> datetime:
    return moments(job)[-1]


def expected_end(job: Job) -> datetime:
    """When the job should end: its plan's last milestone; for a real job, the end measured step
    times predict, or before the first step the synthetic timeline's end."""
    if job.trainer != "real" or job.cancel_requested_at is not None:
        return end_time(job)
    if job.eta is not None:
        return job.eta
    return uncut_moments(job.model_copy(update={"trainer": "synthetic"}))[-1]


def seconds_remaining(job: Job, now: datetime) -> int:
    """Whole seconds until the job ends (rounded up), as ``progress.seconds_remaining``."""
    if job.status in TERMINAL:
        return 0
    return max(0, math.ceil((expected_end(job) - now).total_seconds()))


def _next(moments: list[datetime], now: datetime) -> datetime:
    later = [m for m in moments if m > now]
    return min(later) if later else now


def _moves(job: Job, now: datetime) -> list[datetime]:
    """The moments the stored job itself moves at (its next milestone, its next step)."""
    due = moments(job)
    found = [now]
    if job.cursor < len(due):
        found.append(due[job.cursor])
    if job.steps_completed < job.total_steps and job.trainer != "real":
        found.append(step_time(job, job.steps_completed + 1))
    return found


def moves_at(job: Job, now: datetime) -> datetime | None:
    """Until when ``advance`` leaves ``job`` (already advanced to ``now``) as it is: its next
    milestone or its next step; ``now`` where a worker's report may move it at any moment.
    None: never (it has ended). Unlike ``unchanged_until``, the ticks of ``seconds_remaining``
    do not count: they change what a read renders, not what is stored."""
    if job.status in TERMINAL:
        return None
    if in_training(job):
        return now
    return _next(_moves(job, now), now)


def unchanged_until(job: Job, now: datetime) -> datetime | None:
    """Until when a read of ``job`` (already advanced to ``now``) gives the same answer: the next
    milestone, the next step or the next tick of ``seconds_remaining``. None: never changes."""
    if job.status in TERMINAL:
        return None
    if in_training(job):  # a worker's report may change it at any moment
        return now
    moments = _moves(job, now)
    end = expected_end(job)
    left = (end - now).total_seconds()
    if left > 0:
        moments.append(end - timedelta(seconds=math.ceil(left) - 1))
    return _next(moments, now)
