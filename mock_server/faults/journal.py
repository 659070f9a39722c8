"""The request journal: every request a fault touched, for tests to read back.

One entry per (request, rule that fired), written when the request arrives, so the gap between
two entries of a retried call is the delay the client waited. ``at`` is the simulator's clock
(to line entries up with job events); ``wall_time`` is real time, which keeps moving under a
manual clock and is what retry delays are measured in. The journal lives in memory and is
bounded: it is a test's view of the current run, not an audit log. Replicas that share a
database share one journal there instead (``SharedJournal``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from mock_server.core.timefmt import iso, parse_iso
from mock_server.store.base import Control, Store

__all__ = ["JOURNAL", "Journal", "JournalEntry", "SharedJournal", "loaded"]

log = logging.getLogger("together_sim.faults")


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    request_id: str
    at: datetime
    wall_time: float
    method: str
    path: str
    tenant: str | None
    rule: str
    fault: str  # "status", "latency", "reset", "truncate" or "slow_stream"
    detail: dict[str, Any] = field(default_factory=dict)
    retry_count: int | None = None  # the 3.x SDK's x-stainless-retry-count, when sent

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "request_id": self.request_id,
            "at": iso(self.at),
            "wall_time": self.wall_time,
            "method": self.method,
            "path": self.path,
            "tenant": self.tenant,
            "rule": self.rule,
            "fault": self.fault,
            "detail": self.detail,
            "retry_count": self.retry_count,
        }


class Journal:
    def __init__(self, limit: int = 5000) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._seq = 0
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """Entries pushed out by the bound since the last clear."""
        return self._dropped

    def record(self, **fields: Any) -> JournalEntry:
        with self._lock:
            self._seq += 1
            entry = JournalEntry(seq=self._seq, **fields)
            if len(self._entries) == self._entries.maxlen:
                self._dropped += 1
            self._entries.append(entry)
            return entry

    def entries(self, *, rule: str | None = None, limit: int | None = None) -> list[JournalEntry]:
        with self._lock:
            chosen = [e for e in self._entries if rule is None or e.rule == rule]
        return chosen[-limit:] if limit else chosen

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._dropped = 0


class SharedJournal(Journal):
    """The journal of replicas that share a database: every entry a control row (kind
    ``journal``, id its ``seq``), numbered by one counter for all of them, so a test reads back
    every request a fault touched whichever replica answered it. The bound is kept by trimming
    every ``_TRIM_EVERY`` entries; what lies past it meanwhile is left out of ``entries`` and
    counted as dropped, so readers see the bound either way."""

    def __init__(self, store: Store, limit: int = 5000) -> None:
        super().__init__(limit)
        self._store = store
        self._limit = limit

    def record(self, **fields: Any) -> JournalEntry:
        store = self._store
        with store.transaction():
            seq = store.increment_meta(_SEQ)
            entry = JournalEntry(seq=seq, **fields)
            store.put_control(JOURNAL, str(seq), _document(entry))
        if seq % _TRIM_EVERY == 0 and (trimmed := store.trim_controls(JOURNAL, self._limit)):
            store.increment_meta(_DROPPED, trimmed)
        return entry

    def _kept(self) -> tuple[list[JournalEntry], int]:
        """The entries within the bound, and how many past it are still stored."""
        stored = self._store.list_controls(JOURNAL)
        over = max(0, len(stored) - self._limit)
        return loaded(stored[over:], _entry, "journal entry"), over

    def entries(self, *, rule: str | None = None, limit: int | None = None) -> list[JournalEntry]:
        chosen = [e for e in self._kept()[0] if rule is None or e.rule == rule]
        return chosen[-limit:] if limit else chosen

    @property
    def dropped(self) -> int:
        return int(self._store.get_meta(_DROPPED) or 0) + self._kept()[1]

    def clear(self) -> None:
        with self._store.transaction():
            self._store.delete_controls(JOURNAL)
            self._store.set_meta(_DROPPED, "0")


T = TypeVar("T")


def loaded(controls: Iterable[Control], load: Callable[[Control], T], what: str) -> list[T]:
    """The controls that load (a row an older build wrote, or a hand edit, may not): one that
    does not is left out and logged, rather than failing every request that reloads them."""
    kept = []
    for control in controls:
        try:
            kept.append(load(control))
        except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError included
            log.warning("shared %s %s does not load, left out: %s", what, control.id, exc)
    return kept


JOURNAL = "journal"
_SEQ, _DROPPED = "journal_seq", "journal_dropped"
_TRIM_EVERY = 64


def _document(entry: JournalEntry) -> dict[str, Any]:
    doc = entry.as_dict()
    del doc["seq"]  # the row's id
    return doc


def _entry(control: Control) -> JournalEntry:
    doc = control.doc
    return JournalEntry(
        seq=int(control.id),
        request_id=doc["request_id"],
        at=parse_iso(doc["at"]),
        wall_time=doc["wall_time"],
        method=doc["method"],
        path=doc["path"],
        tenant=doc["tenant"],
        rule=doc["rule"],
        fault=doc["fault"],
        detail=doc["detail"],
        retry_count=doc["retry_count"],
    )
