"""The base of the fine-tuning service (``service.FineTuning``, one class in parts): what it
holds, and its jobs read from the store brought up to the clock's time. Every other part builds on
these reads: a job is stepped to now (``machine.advance``) before it is answered, changed or
continued from, and a job that cannot have moved since it was last read is taken as stored
(``KeptViews``), which is what keeps polls cheap. ``moving.py`` changes jobs, ``service.py``
creates them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from mock_server.core.clock import Clock
from mock_server.core.ids import IdSource
from mock_server.core.wire import json_body
from mock_server.files.service import FileService
from mock_server.fine_tuning.events import Checkpoint, Event, Metric, render_event
from mock_server.fine_tuning.kept_views import KeptViews
from mock_server.fine_tuning.machine import advance
from mock_server.fine_tuning.models import TERMINAL, Job, Timeline
from mock_server.fine_tuning.timing import (
    expected_end,
    moves_at,
    seconds_remaining,
    unchanged_until,
)
from mock_server.fine_tuning.views import render_job
from mock_server.store import BlobStore, Store

__all__ = ["JobHook", "Reading", "Trainer"]

Trainer = Literal["synthetic", "real"]

JobHook = Callable[[Job, datetime], Job]
"""A scenario's say on a new job (stuck in queue, failing at a step)."""


def _as_is(job: Job, now: datetime) -> Job:
    return job


def _nothing() -> None:
    return None


class Reading:
    """The fine-tuning service's state, and its jobs brought up to the clock's time."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        clock: Clock,
        ids: IdSource,
        timeline: Timeline,
        files: FileService,
        *,
        account: str = "sim-user",
        trainer: Trainer = "synthetic",
        keep_views: bool = True,
        on_new_job: JobHook = _as_is,
        shared: bool = False,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.ids = ids
        self.timeline = timeline
        self.files = files
        self.account = account
        self.trainer: Trainer = trainer  # who trains new jobs; /_sim/jobs/{id}/trainer overrides
        # Shared: other processes move these jobs too, and what is kept is checked against the
        # job's row version (kept_views.py).
        self.views = KeptViews(enabled=keep_views, versions=store.job_version if shared else None)
        self._on_new_job = on_new_job
        # Told when a real job changed, so a worker starts or stops now (set in app.py).
        self.on_real_change: Callable[[], None] = _nothing

    # -- reading ----------------------------------------------------------------------------------

    def _advanced(self, job: Job) -> Job:
        if job.status in TERMINAL:
            return job
        now = self.clock.now()
        if self.views.still(job.tenant, job.id, now, stored=job) is not None:
            return job  # read after it was last advanced, and nothing has moved it since
        version = self.views.version()
        if _moves(job, now):  # again under the store's lock, on the job as it is then
            job = self.store.update_job(job.tenant, job.id, lambda j: advance(j, now))
        self._keep_still(job, now, version)
        return job

    def job(self, tenant: str, job_id: str) -> Job:
        """The job brought up to the clock's time (saved, if that moved it). A job that cannot
        have moved since it was last brought up (``KeptViews.still``) is read as it is stored:
        a list of many live jobs, or their events, then skips working out their plans."""
        now = self.clock.now()
        if self.views.still(tenant, job_id, now) is not None:
            stored = self.store.get_job(tenant, job_id)
            if not self.views.shared or self.views.still(tenant, job_id, now, stored=stored):
                return stored
        version = self.views.version()
        job = self.store.update_job(tenant, job_id, lambda j: advance(j, now))
        self._keep_still(job, now, version)
        return job

    def _keep_still(self, job: Job, now: datetime, version: int) -> None:
        until = moves_at(job, now)
        if until is not None and until > now:
            self.views.keep_still(
                job.tenant, job.id, until, expected_end(job), version=version, job=job
            )

    def job_view(self, tenant: str, job_id: str, *, upper_case_types: bool) -> bytes:
        """A job with its events as the JSON body of ``GET /fine-tunes/{id}``.

        Clients poll jobs a lot, and a job's answer only changes at moments its plan knows in
        advance (``unchanged_until``), or when it is cancelled, failed or deleted (which forget
        the kept body). So the body is kept (``KeptViews``) until then."""
        now = self.clock.now()
        if (body := self.views.get(tenant, job_id, upper_case_types, now)) is not None:
            return body
        version = self.views.version()
        row = self.views.row(job_id)  # before the read: a move after it makes the body stale
        job = self.store.update_job(tenant, job_id, lambda j: advance(j, now))
        self._keep_still(job, now, version)
        events = [
            render_event(e, upper_case_types=upper_case_types)
            for e in self.store.list_events(job.id)
        ]
        view = render_job(job, seconds_remaining=seconds_remaining(job, now), events=events)
        body = json_body(view)
        until = unchanged_until(job, now)
        self.views.keep(tenant, job_id, upper_case_types, body, until, version=version, row=row)
        return body

    def kept_view(self, tenant: str, job_id: str, upper_case_types: bool) -> bytes | None:
        """The kept body of a job if it is still the right answer now, else None (the poll
        front in ``poll_front.py`` asks this before the app runs)."""
        return self.views.get(tenant, job_id, upper_case_types, self.clock.now())

    def jobs(self, tenant: str) -> list[Job]:
        """The tenant's jobs brought up to the clock's time. The ones that moved are saved in
        one transaction: on a running clock most live jobs of a list have moved, and a write
        lock taken and let go for each was most of a list's cost under load."""
        now = self.clock.now()
        version = self.views.version()
        listed = self.store.list_jobs(tenant)
        waking = [
            job
            for job in listed
            if job.status not in TERMINAL
            and self.views.still(tenant, job.id, now, stored=job) is None
        ]
        moving = [job.id for job in waking if _moves(job, now)]
        if moving:
            with self.store.transaction():
                saved = {
                    job_id: self.store.update_job(tenant, job_id, lambda j: advance(j, now))
                    for job_id in moving
                }
            listed = [saved.get(job.id, job) for job in listed]
            waking = [saved.get(job.id, job) for job in waking]
        for job in waking:
            self._keep_still(job, now, version)
        return listed

    def output_job(self, tenant: str, name: str) -> Job:
        """The job whose output model is named ``name``, brought up to the clock's time."""
        return self._advanced(self.store.find_job_by_output_name(tenant, name))

    def events(self, tenant: str, job_id: str) -> list[Event]:
        return self.store.list_events(self.job(tenant, job_id).id)

    def checkpoints(self, tenant: str, job_id: str) -> list[Checkpoint]:
        checkpoints = self.store.list_checkpoints(self.job(tenant, job_id).id)
        return sorted(checkpoints, key=lambda c: (c.created_at, c.step), reverse=True)

    def metrics(self, tenant: str, job_id: str, **filters: Any) -> list[Metric]:
        return self.store.list_metrics(self.job(tenant, job_id).id, **filters)

    def seconds_remaining(self, job: Job) -> int:
        now = self.clock.now()
        if job.status not in TERMINAL and (
            end := self.views.still(job.tenant, job.id, now, stored=job)
        ):
            return max(0, math.ceil((end - now).total_seconds()))  # as plan.seconds_remaining
        return seconds_remaining(job, now)


def _moves(job: Job, now: datetime) -> bool:
    """Whether bringing ``job`` (as read) up to ``now`` changes it: most reads find it has not
    moved, and those need no write lock."""
    transition = advance(job, now)
    return transition.job != job or bool(transition.events)
