"""Uncut plans, remembered: a job is read far more often than it changes, and its uncut plan
(``plan.py``) depends only on what the job was created with, which its key holds.

Whole plans for the 512 jobs used last (~20 KB each; past that a job's plan is worked out again
when it moves), and only their moments for many more (~1.5 KB each): a read of a live job needs
the whole plan only when a milestone is due; its next moment and its end come from the moments.
Worker threads share both; each is least recently used first out, so live jobs stay.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mock_server.fine_tuning.models import Job, Milestone

__all__ = ["Remembered", "touch"]

Key = tuple[Any, ...]


class Remembered:
    def __init__(
        self,
        uncut_plan: Callable[[Job], list[Milestone]],
        *,
        plans_kept: int = 512,
        moments_kept: int = 16384,
    ) -> None:
        self._uncut_plan = uncut_plan
        self._plans: OrderedDict[Key, tuple[Milestone, ...]] = OrderedDict()
        self._moments: OrderedDict[Key, tuple[datetime, ...]] = OrderedDict()
        self._plans_kept, self._moments_kept = plans_kept, moments_kept
        self._last = threading.local()  # per thread: (job, its key), the job asked about last

    def milestones(self, job: Job, key: Key | None = None) -> list[Milestone]:
        key = key or self._key(job)
        milestones = self._plans.get(key)
        if milestones is None:
            milestones = self._plans[key] = tuple(self._uncut_plan(job))
            if len(self._plans) > self._plans_kept:
                self._plans.popitem(last=False)
        else:
            touch(self._plans, key)
        return list(milestones)

    def moments(self, job: Job) -> tuple[datetime, ...]:
        key = self._key(job)
        moments = self._moments.get(key)
        if moments is None:
            moments = self._moments[key] = tuple(m.at for m in self.milestones(job, key))
            if len(self._moments) > self._moments_kept:
                self._moments.popitem(last=False)
        else:
            touch(self._moments, key)
        return moments

    def _key(self, job: Job) -> Key:
        """Everything the uncut plan depends on: what the job was created with. One read of a
        job asks for its moments several times (its next move, its end, ``seconds_remaining``),
        so the key of the job object asked about last is kept, per thread, not built each time."""
        last = getattr(self._last, "pair", None)
        if last is not None and last[0] is job:
            key: Key = last[1]
            return key
        key = (
            job.id, job.created_at, job.model, job.model_output_name, job.validation_file,
            job.wandb_url, job.total_steps, job.steps_per_epoch, job.n_epochs, job.n_evals,
            job.n_checkpoints, job.is_lora, job.token_count, job.param_count,
            tuple(sorted(job.durations.items())), job.trainer,
        )  # fmt: skip
        self._last.pair = (job, key)
        return key


def touch(kept: OrderedDict[Key, Any], key: Key) -> None:
    """Mark ``key`` as just used. Worker threads share these caches: another may have evicted
    it since it was read (once more jobs are live than the cache keeps), and a KeyError here
    would be a 500 for a plain read of a job."""
    try:
        kept.move_to_end(key)
    except KeyError:
        pass
