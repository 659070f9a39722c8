"""The rendered bodies of polled jobs, kept until the job's next change.

A job's answer changes only at moments its plan knows in advance (its next milestone, step or
tick of ``seconds_remaining``), or when it is cancelled, failed, deleted or moved by a worker's
report, which forget it. So a poll between two such moments can be answered with the bytes of the
last one. A body rendered from a read that a forget overtook (the runner thread moved the job
while a poll was rendering it) is not kept: ``keep`` takes the ``version`` seen before the read.
This is process memory: a bounded LRU, lost on restart (nothing is lost with it: the next poll
renders again).

The same goes for the stored job itself, which moves only at its next milestone or step
(``plan.moves_at``): until then a list of a tenant's jobs, or its events, takes the stored job as
it is, with the end it expects, instead of working out its plan again (``still``). Its entries
are forgotten with the bodies.

When other processes serve from the same database (``versions`` given: ``Settings.shared``),
they move jobs too, and forget nothing here. So each kept body carries the job's row version
(``Store.job_version``, which every saved move adds one to) read before the job was, and is
answered only while the row still has it: one primary-key read instead of the render, and a
body kept on one replica is never a stale read after another changed the job. A ``still`` entry
carries the job it was made from, and holds only while the stored job is that one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from mock_server.core.errors import TogetherError
from mock_server.core.offload import WouldBlock
from mock_server.fine_tuning.models import Job

__all__ = ["KeptViews", "RowVersions"]

_Key = tuple[str, str, bool]
_STILL_KEPT = 16384  # ~250 bytes each (a single server's; a replica's also hold their job)

RowVersions = Callable[[str], int | None]
"""A job's row version by its id (``Store.job_version``): None without the job."""


class KeptViews:
    def __init__(
        self, *, enabled: bool = True, size: int = 1024, versions: RowVersions | None = None
    ) -> None:
        """``versions``: other processes move the jobs too, and what is kept is checked
        against the rows (see the module's docstring)."""
        self.enabled = enabled
        self._size = size
        self._versions = versions
        self._lock = threading.Lock()
        # key -> (body, until when it is right, the row version it was rendered from)
        self._views: OrderedDict[_Key, tuple[bytes, datetime | None, int | None]] = OrderedDict()
        # (tenant, job id) -> (until when the stored job stays as it is, when it expects to end,
        # the job as stored then: replicas only)
        self._still: OrderedDict[tuple[str, str], tuple[datetime, datetime, Job | None]] = (
            OrderedDict()
        )
        self._forgets = 0  # how many forgets so far: a read that saw fewer may be stale

    @property
    def shared(self) -> bool:
        """Whether other processes move the jobs too."""
        return self._versions is not None

    def version(self) -> int:
        """Ask before reading the job whose body you may ``keep``."""
        return self._forgets

    def row(self, job_id: str) -> int | None:
        """The job's row version now, to ``keep`` a body rendered from a read after this (None
        for a single server, which needs none)."""
        return None if self._versions is None else self._versions(job_id)

    def _row_is(self, job_id: str, row: int | None) -> bool:
        """Whether the job's row still has version ``row``. A store that would make the caller
        wait (its lock held elsewhere, on the loop) or fails says no: the body is rendered
        afresh, where waiting is allowed."""
        assert self._versions is not None
        try:
            return row is not None and self._versions(job_id) == row
        except (TogetherError, WouldBlock):
            return False

    def keep(
        self,
        tenant: str,
        job_id: str,
        upper: bool,
        body: bytes,
        until: datetime | None,
        *,
        version: int,
        row: int | None = None,
    ) -> None:
        """Keep ``body`` until ``until`` (None: for good, as an ended job's), unless something was
        forgotten since ``version`` was taken (the body may be older than the change). ``row``:
        what ``row`` said before the job was read (replicas)."""
        if not self.enabled:
            return
        with self._lock:
            if self._forgets != version:
                return
            self._views[(tenant, job_id, upper)] = (body, until, row)
            if len(self._views) > self._size:
                self._views.popitem(last=False)

    def get(self, tenant: str, job_id: str, upper: bool, now: datetime) -> bytes | None:
        """The kept body if it is still the right answer at ``now``."""
        key = (tenant, job_id, upper)
        with self._lock:
            kept = self._views.get(key)
            if kept is None:
                return None
            body, until, row = kept
            if until is not None and now >= until:
                del self._views[key]
                return None
            self._views.move_to_end(key)
        if self._versions is not None and not self._row_is(job_id, row):
            with self._lock:
                if self._views.get(key) is kept:
                    del self._views[key]
            return None
        return body

    def keep_still(
        self,
        tenant: str,
        job_id: str,
        until: datetime,
        end: datetime,
        *,
        version: int,
        job: Job | None = None,
    ) -> None:
        """The stored job, advanced to a moment before ``until``, stays as it is until then and
        expects to end at ``end``; unless something was forgotten since ``version``. ``job``:
        the job as stored then (kept by replicas only, for ``still`` to compare)."""
        if not self.enabled:
            return
        with self._lock:
            if self._forgets != version:
                return
            self._still[(tenant, job_id)] = (until, end, job if self.shared else None)
            if len(self._still) > _STILL_KEPT:
                self._still.popitem(last=False)

    def still(
        self, tenant: str, job_id: str, now: datetime, *, stored: Job | None = None
    ) -> datetime | None:
        """When the job expects to end, if its stored state is still what ``advance`` would make
        of it at ``now``; None when it has to be advanced. ``stored``: the job as just read,
        which, where other processes move jobs too, must be the one kept."""
        key = (tenant, job_id)
        with self._lock:
            kept = self._still.get(key)
            if kept is None:
                return None
            until, end, job = kept
            if now >= until or (self.shared and stored is not None and stored != job):
                del self._still[key]
                return None
            self._still.move_to_end(key)
            return end

    def forget(self, tenant: str, job_id: str) -> None:
        with self._lock:
            self._forgets += 1
            for upper in (False, True):
                self._views.pop((tenant, job_id, upper), None)
            self._still.pop((tenant, job_id), None)

    def clear(self) -> None:
        with self._lock:
            self._forgets += 1
            self._views.clear()
            self._still.clear()
