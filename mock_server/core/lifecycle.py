"""Status fields read off the clock, pure: the lifecycle of every resource family but jobs.

A resource's status is never stored. Its record keeps a ``Progress``: when its current walk began
(``since``), the states the walk passes through with the seconds each lasts (``walk``, scaled by
the timeline's speed when the walk began, and kept whatever the speed later), and the state it
rests in at the end (``rest``). Reading a status is ``status_at(progress, now)``; a request that
sends a resource somewhere else (stop, cancel, a redeploy) is ``apply(lifecycle, progress,
move, now, speed)``, which returns a new walk starting now. Nothing here reads a clock, touches
the store or logs, as in ``jobs.py`` and ``endpoints.py``.

A family's ``Lifecycle`` is data: its creation walk and named moves, each with the states it may
be asked from. The walk's first state is what the request that began it sees, even when the
instant clock makes every state last no time (a create answers ``pending``, the next read
``completed``), as the dedicated endpoints do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mock_server.core.errors import InvalidTransition
from mock_server.core.timefmt import iso, parse_iso

__all__ = [
    "Lifecycle",
    "Move",
    "Progress",
    "Steps",
    "apply",
    "begin",
    "ends_at",
    "entered_at",
    "status_at",
    "walked",
]

Steps = tuple[tuple[str, float], ...]  # (state, seconds at the service's pace)


@dataclass(frozen=True)
class Move:
    """A request that starts a new walk: the states it passes through, where it rests, and the
    states it may be asked from (``None``: any state that is not where it already rests)."""

    steps: Steps
    rest: str
    allowed: frozenset[str] | None = None


@dataclass(frozen=True)
class Lifecycle:
    steps: Steps  # the walk a new resource starts on
    rest: str  # where that walk ends
    moves: Mapping[str, Move] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    since: datetime
    walk: Steps  # durations already scaled
    rest: str

    def to_json(self) -> dict[str, Any]:
        return {"since": iso(self.since), "walk": [list(s) for s in self.walk], "rest": self.rest}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Progress:
        walk = tuple((str(state), float(seconds)) for state, seconds in doc["walk"])
        return cls(since=parse_iso(doc["since"]), walk=walk, rest=str(doc["rest"]))


def _scaled(steps: Steps, speed: float) -> Steps:
    if math.isinf(speed):
        return tuple((state, 0.0) for state, _ in steps)
    return tuple((state, seconds / speed) for state, seconds in steps)


def begin(steps: Steps, rest: str, now: datetime, speed: float) -> Progress:
    """A walk through ``steps`` starting at ``now``, at ``speed`` times the service's pace."""
    return Progress(since=now, walk=_scaled(steps, speed), rest=rest)


def status_at(progress: Progress, now: datetime) -> str:
    elapsed = (now - progress.since).total_seconds()
    if progress.walk and elapsed <= 0:
        return progress.walk[0][0]
    for state, seconds in progress.walk:
        elapsed -= seconds
        if elapsed < 0:
            return state
    return progress.rest


def entered_at(progress: Progress, state: str) -> datetime | None:
    """When the walk enters ``state`` (planned, whether or not that is past), or None if it
    never does."""
    offset = 0.0
    for walking, seconds in progress.walk:
        if walking == state:
            return progress.since + timedelta(seconds=offset)
        offset += seconds
    return progress.since + timedelta(seconds=offset) if state == progress.rest else None


def ends_at(progress: Progress) -> datetime:
    """When the walk reaches its rest."""
    return progress.since + timedelta(seconds=sum(seconds for _, seconds in progress.walk))


def walked(progress: Progress, now: datetime) -> list[tuple[str, datetime]]:
    """The states entered by ``now``, each with when: a resource's status history."""
    current = status_at(progress, now)
    history = []
    for state in [*(s for s, _ in progress.walk), progress.rest]:
        moment = entered_at(progress, state)
        assert moment is not None
        history.append((state, moment))
        if state == current:
            break
    return history


def apply(
    lifecycle: Lifecycle, progress: Progress, move: str, now: datetime, speed: float
) -> Progress:
    """``move`` asked at ``now``. Asking for where the resource already rests or heads changes
    nothing (a second stop does not restart a stopping session); asking from a state the move
    does not leave from is an ``InvalidTransition``."""
    wanted = lifecycle.moves[move]
    if progress.rest == wanted.rest:
        return progress
    current = status_at(progress, now)
    if wanted.allowed is not None and current not in wanted.allowed:
        raise InvalidTransition(f"Cannot {move} while {current}", param="status")
    return begin(wanted.steps, wanted.rest, now, speed)
