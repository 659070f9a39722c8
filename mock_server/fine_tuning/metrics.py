"""The synthetic trainer's metrics: a seeded, decreasing loss curve and the learning rate of the
job's schedule, logged at the steps a real trainer would log them.

The same configuration and seed give the same curve, so a test can compare two runs.
"""

from __future__ import annotations

import math
import random

from mock_server.core.ids import stable_int
from mock_server.fine_tuning.course import step_time
from mock_server.fine_tuning.events import Metric
from mock_server.fine_tuning.lr_schedule import Schedule
from mock_server.fine_tuning.models import Job
from mock_server.fine_tuning.plan import eval_steps

__all__ = ["metrics_upto", "schedule"]


def _loss(job: Job, step: int, *, eval_: bool = False) -> float:
    """A seeded, decreasing loss curve; the same configuration and seed give the same curve."""
    start, floor = (0.6931, 0.08) if job.is_dpo else (2.3, 0.55)
    progress = step / max(1, job.total_steps)
    base = floor + (start - floor) * math.exp(-3.0 * progress)
    noise = random.Random(stable_int(job.seed, job.model, job.token_count, step, eval_)).uniform(
        -1, 1
    )
    return round(base * (1.0 + 0.02 * noise) + (0.05 if eval_ else 0.0), 6)


def schedule(job: Job) -> Schedule:
    sched = job.lr_scheduler or {}
    args = sched.get("lr_scheduler_args") or {}
    return Schedule(
        peak=job.learning_rate,
        total_steps=job.total_steps,
        warmup_ratio=job.warmup_ratio,
        kind="cosine" if sched.get("lr_scheduler_type") == "cosine" else "linear",
        min_lr_ratio=float(args.get("min_lr_ratio", 0.0)),
        num_cycles=float(args.get("num_cycles", 0.5)),
    )


def metrics_upto(job: Job, upto: int) -> list[Metric]:
    """Metric points for the steps in ``(job.metrics_logged_to, upto]``: at most ~500 per job."""
    stride = max(1, math.ceil(job.total_steps / 500))
    evals = set(eval_steps(job))
    lr = schedule(job)
    points = []
    for step in range(job.metrics_logged_to + 1, upto + 1):
        if step % stride and step != job.total_steps and step not in evals:
            continue
        values = {
            "train/loss": _loss(job, step),
            "train/learning_rate": lr.lr_at(step - 1),
            "train/global_step": float(step),
            "train/epoch": round(step / job.steps_per_epoch, 4),
        }
        if step in evals:
            values["eval/loss"] = _loss(job, step, eval_=True)
        points.append(Metric(step=step, logged_at=step_time(job, step), values=values))
    return points
