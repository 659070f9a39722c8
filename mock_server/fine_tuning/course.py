"""A job's course: when each optimizer step ends, and when the job enters each status on the
way to ``completed`` as a walk on the one lifecycle engine (``core/lifecycle.py``). Uncut and
fixed at creation by the job's durations; ``plan.py`` hangs the milestones on it and cuts it
for a fault or a cancel, and the metrics and the state machine read the step clock from it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from mock_server.core.lifecycle import Progress, Steps, begin, entered_at
from mock_server.fine_tuning.models import Job, JobStatus

__all__ = ["course", "entered", "span", "status_steps", "step_at", "step_time"]


def _at(job: Job, seconds: float) -> datetime:
    return job.created_at + timedelta(seconds=seconds)


def _training_start_offset(job: Job) -> float:
    d = job.durations
    return d["queue"] + d["start"] + d["model_download"] + d["data_download"]


def step_time(job: Job, step: int) -> datetime:
    return _at(job, _training_start_offset(job) + step * job.durations["step"])


def step_at(job: Job, moment: datetime) -> int:
    """How many optimizer steps the job has finished by ``moment`` (on an uncut plan)."""
    if job.durations["step"] == 0:
        return job.total_steps if moment >= step_time(job, 0) else 0
    elapsed = (moment - step_time(job, 0)).total_seconds()
    return max(0, min(job.total_steps, math.floor(elapsed / job.durations["step"] + 1e-9)))


def span(seconds: float) -> float:
    """``seconds`` to the microsecond, as the clock reads them: a walk of such spans enters each
    status on the very moment the events carry, whatever the float sums would say."""
    return timedelta(seconds=seconds).total_seconds()


def status_steps(job: Job) -> Steps:
    """Each status a job passes through on its way to ``completed``, with how long it lasts;
    ``running`` lasts the downloads and every optimizer step, up to the last step's moment."""
    d, s = job.durations, JobStatus
    queue, start = timedelta(seconds=d["queue"]), timedelta(seconds=d["start"])
    training = step_time(job, job.total_steps) - job.created_at - queue - start
    return (
        (s.pending.value, queue.total_seconds()),
        (s.queued.value, start.total_seconds()),
        (s.running.value, training.total_seconds()),
        (s.compressing.value, span(d["compress"])),
        (s.uploading.value, span(d["upload"])),
    )


def course(job: Job) -> Progress:
    """The uncut synthetic walk. Its durations are the job's, already scaled: speed 1."""
    return begin(status_steps(job), JobStatus.completed.value, job.created_at, speed=1.0)


def entered(walk: Progress, status: JobStatus) -> datetime:
    moment = entered_at(walk, status.value)
    assert moment is not None, f"the walk never enters {status.value}"
    return moment
