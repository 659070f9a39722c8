"""Clocks the simulator reads time from.

Every timestamp and every job transition is computed from an injected clock, never from
``datetime.now()`` in domain code, so tests step time instead of sleeping (in the manner of
Trio's ``MockClock``). Both clocks carry an ``offset`` that ``/_sim/advance`` moves forward; the
store persists it, so a restarted server keeps the time its jobs were living in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["CENTURY", "Clock", "ManualClock", "SystemClock", "utc"]

# A century of simulated seconds: the farthest the clock may be moved ahead, a fault rule's time
# may lie, and what a job "stuck" with no end waits. Far past any job's timeline; even all three
# together stay far short of the year 9999, past which a datetime cannot go.
CENTURY = 100 * 365 * 86400.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Clock(Protocol):
    offset: float

    def now(self) -> datetime: ...

    def advance(self, seconds: float) -> datetime: ...


class SystemClock:
    """Wall-clock time plus whatever the controls have advanced it by."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.offset += seconds
        return self.now()


class ManualClock:
    """Time that stands still until someone advances it."""

    def __init__(self, start: datetime | None = None, offset: float = 0.0) -> None:
        self.start = start or utc(2026, 1, 1)
        self.offset = offset

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.offset += seconds
        return self.now()
