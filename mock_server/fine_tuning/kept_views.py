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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

__all__ = ["KeptViews"]

_Key = tuple[str, str, bool]
_STILL_KEPT = 16384  # ~250 bytes each


class KeptViews:
    def __init__(self, *, enabled: bool = True, size: int = 1024) -> None:
        self.enabled = enabled
        self._size = size
        self._lock = threading.Lock()
        self._views: OrderedDict[_Key, tuple[bytes, datetime | None]] = OrderedDict()
        # (tenant, job id) -> (until when the stored job stays as it is, when it expects to end)
        self._still: OrderedDict[tuple[str, str], tuple[datetime, datetime]] = OrderedDict()
        self._forgets = 0  # how many forgets so far: a read that saw fewer may be stale

    def version(self) -> int:
        """Ask before reading the job whose body you may ``keep``."""
        return self._forgets

    def keep(
        self,
        tenant: str,
        job_id: str,
        upper: bool,
        body: bytes,
        until: datetime | None,
        *,
        version: int,
    ) -> None:
        """Keep ``body`` until ``until`` (None: for good, as an ended job's), unless something was
        forgotten since ``version`` was taken (the body may be older than the change)."""
        if not self.enabled:
            return
        with self._lock:
            if self._forgets != version:
                return
            self._views[(tenant, job_id, upper)] = (body, until)
            if len(self._views) > self._size:
                self._views.popitem(last=False)

    def get(self, tenant: str, job_id: str, upper: bool, now: datetime) -> bytes | None:
        """The kept body if it is still the right answer at ``now``."""
        key = (tenant, job_id, upper)
        with self._lock:
            kept = self._views.get(key)
            if kept is None:
                return None
            body, until = kept
            if until is not None and now >= until:
                del self._views[key]
                return None
            self._views.move_to_end(key)
            return body

    def keep_still(
        self, tenant: str, job_id: str, until: datetime, end: datetime, *, version: int
    ) -> None:
        """The stored job, advanced to a moment before ``until``, stays as it is until then and
        expects to end at ``end``; unless something was forgotten since ``version``."""
        if not self.enabled:
            return
        with self._lock:
            if self._forgets != version:
                return
            self._still[(tenant, job_id)] = (until, end)
            if len(self._still) > _STILL_KEPT:
                self._still.popitem(last=False)

    def still(self, tenant: str, job_id: str, now: datetime) -> datetime | None:
        """When the job expects to end, if its stored state is still what ``advance`` would make
        of it at ``now``; None when it has to be advanced."""
        key = (tenant, job_id)
        with self._lock:
            kept = self._still.get(key)
            if kept is None:
                return None
            until, end = kept
            if now >= until:
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
