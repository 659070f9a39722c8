"""The request journal: every request a fault touched, for tests to read back.

One entry per (request, rule that fired), written when the request arrives, so the gap between
two entries of a retried call is the delay the client waited. ``at`` is the simulator's clock
(to line entries up with job events); ``wall_time`` is real time, which keeps moving under a
manual clock and is what retry delays are measured in. The journal lives in memory and is
bounded: it is a test's view of the current run, not an audit log.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mock_server.core.timefmt import iso

__all__ = ["Journal", "JournalEntry"]


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
        self.dropped = 0  # entries pushed out by the bound since the last clear

    def record(self, **fields: Any) -> JournalEntry:
        with self._lock:
            self._seq += 1
            entry = JournalEntry(seq=self._seq, **fields)
            if len(self._entries) == self._entries.maxlen:
                self.dropped += 1
            self._entries.append(entry)
            return entry

    def entries(self, *, rule: str | None = None, limit: int | None = None) -> list[JournalEntry]:
        with self._lock:
            chosen = [e for e in self._entries if rule is None or e.rule == rule]
        return chosen[-limit:] if limit else chosen

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.dropped = 0
