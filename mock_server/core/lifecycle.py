"""Status fields read off the clock, pure: the one lifecycle engine of the simulator.

Every resource whose status moves with time walks here: the resource families
(``families/``), batches (``batches/``), dedicated endpoints (``endpoints/models.py``) and the
statuses of fine-tuning jobs (``fine_tuning/plan.py``). Nothing here reads a clock, touches the
store or logs.

A resource's walk is a ``Progress``: when it began (``since``), the states it passes through with
the seconds each lasts (``walk``, scaled by the timeline's speed when the walk began, and kept
whatever the speed later), and the state it rests in at the end (``rest``). Reading a status is
``status_at(progress, now)``, each state entered on the moment ``entered_at`` gives (to the
microsecond, as the clock reads it); a request that sends a resource somewhere else (stop,
cancel, a redeploy) is ``apply(lifecycle, progress, move, now, speed)``, which returns a new walk
starting now.

A family's ``Lifecycle`` is data: its creation walk and named moves, each with the states it may
be asked from. The walk's first state is what the request that began it sees, even when the
instant clock makes every state last no time (a create answers ``pending``, the next read
``completed``).

Two shapes beyond a plain walk, for the two services that used to keep engines of their own:

- an idle rest (``Idle``): a rest that ends by itself after so long without use, then walks on
  (a dedicated endpoint with an ``inactive_timeout`` stops); the owner marks each use, and
  ``settle`` writes a leave that is due in as the current walk before a move is asked;
- a cut (``cut``): a walk interrupted at a moment, keeping its history in one ``Progress`` (a
  fine-tuning job's fault or cancel), where ``apply`` would begin a new walk. The job's record
  still stores its status: each change is an event emitted once, in the store transaction that
  steps the job, and a real job's statuses after the start of training come from its worker's
  reports; the walk says when each planned change is due.
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
    "Idle",
    "Lifecycle",
    "Move",
    "Progress",
    "Steps",
    "apply",
    "begin",
    "cut",
    "ends_at",
    "entered_at",
    "leaves_at",
    "settle",
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
class Idle:
    """A rest that ends by itself for want of use: ``seconds`` after the walk reaches its rest,
    or after the last use (``touched``) if that is later, the resource sets off on ``walk`` to
    ``rest``, as an endpoint that gets no request stops. The owner moves ``touched`` on each use,
    so the leave is never stored as a walk until it is due."""

    seconds: float  # the user's own setting: not scaled by the timeline
    walk: Steps  # durations already scaled
    rest: str
    touched: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        touched = iso(self.touched) if self.touched is not None else None
        walk = [list(s) for s in self.walk]
        return {"seconds": self.seconds, "walk": walk, "rest": self.rest, "touched": touched}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Idle:
        touched = doc.get("touched")
        return cls(
            seconds=float(doc["seconds"]),
            walk=_steps(doc["walk"]),
            rest=str(doc["rest"]),
            touched=parse_iso(touched) if touched else None,
        )


@dataclass(frozen=True)
class Progress:
    since: datetime
    walk: Steps  # durations already scaled
    rest: str
    idle: Idle | None = None  # None: the rest lasts until a move

    def to_json(self) -> dict[str, Any]:
        walk = [list(s) for s in self.walk]
        doc: dict[str, Any] = {"since": iso(self.since), "walk": walk, "rest": self.rest}
        if self.idle is not None:  # absent otherwise, so the families' records read as before
            doc["idle"] = self.idle.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Progress:
        idle = doc.get("idle")
        return cls(
            since=parse_iso(doc["since"]),
            walk=_steps(doc["walk"]),
            rest=str(doc["rest"]),
            idle=Idle.from_json(idle) if idle else None,
        )


def _steps(doc: Any) -> Steps:
    return tuple((str(state), float(seconds)) for state, seconds in doc)


def _scaled(steps: Steps, speed: float) -> Steps:
    if math.isinf(speed):
        return tuple((state, 0.0) for state, _ in steps)
    return tuple((state, seconds / speed) for state, seconds in steps)


def begin(steps: Steps, rest: str, now: datetime, speed: float) -> Progress:
    """A walk through ``steps`` starting at ``now``, at ``speed`` times the service's pace."""
    return Progress(since=now, walk=_scaled(steps, speed), rest=rest)


def leaves_at(progress: Progress) -> datetime | None:
    """When an idle rest ends (``Idle``), or None if the rest lasts until a move."""
    idle = progress.idle
    if idle is None:
        return None
    reached = ends_at(progress)
    used = max(reached, idle.touched) if idle.touched is not None else reached
    return used + timedelta(seconds=idle.seconds)


def settle(progress: Progress, now: datetime) -> Progress:
    """The progress with an idle leave that is due by ``now`` written in as the current walk (the
    same object if none is): what a move asked at ``now`` starts from."""
    at = leaves_at(progress)
    if at is None or now < at:
        return progress
    assert progress.idle is not None
    return Progress(since=at, walk=progress.idle.walk, rest=progress.idle.rest)


def cut(progress: Progress, at: datetime, steps: Steps, rest: str) -> Progress:
    """The walk interrupted at ``at``: the states it entered before ``at`` as they were, the one
    it is in then (its rest, if reached) cut short there, and from ``at`` on ``steps`` (already
    scaled) to ``rest``. Unlike ``apply``, which begins a new walk, the history stays in one
    ``Progress``: a fine-tuning job's, whose every status change is an event read back later.
    A state entered at ``at`` itself is not entered: at ``at`` the interruption has begun."""
    left = (at - progress.since).total_seconds()
    kept: list[tuple[str, float]] = []
    for state, seconds in [*progress.walk, (progress.rest, math.inf)]:
        if left <= 0:
            break
        kept.append((state, min(seconds, left)))
        left -= seconds
    return Progress(since=progress.since, walk=(*kept, *steps), rest=rest)


def status_at(progress: Progress, now: datetime) -> str:
    """The state at ``now``: the last one entered by then, each entered on the moment
    ``entered_at`` gives (to the microsecond, as the clock reads it, so a status and the moment
    shown for it never disagree)."""
    progress = settle(progress, now)
    if progress.walk and now <= progress.since:
        return progress.walk[0][0]
    current = progress.rest
    for state, moment in _timeline(progress):
        if moment > now:
            break
        current = state
    return current


def _timeline(progress: Progress) -> list[tuple[str, datetime]]:
    """Every state of the walk and its rest, each with when it is entered (an idle leave aside)."""
    moments, offset = [], 0.0
    for state, seconds in progress.walk:
        moments.append((state, progress.since + timedelta(seconds=offset)))
        offset += seconds
    return [*moments, (progress.rest, progress.since + timedelta(seconds=offset))]


def _leave(progress: Progress) -> Progress | None:
    """The walk an idle rest sets off on, planned from today's ``touched``."""
    at = leaves_at(progress)
    if at is None or progress.idle is None:
        return None
    return Progress(since=at, walk=progress.idle.walk, rest=progress.idle.rest)


def entered_at(progress: Progress, state: str) -> datetime | None:
    """When the walk enters ``state`` (planned, whether or not that is past; an idle leave as
    planned if no use comes first), or None if it never does."""
    for walking, moment in _timeline(progress):
        if walking == state:
            return moment
    leave = _leave(progress)
    return entered_at(leave, state) if leave is not None else None


def ends_at(progress: Progress) -> datetime:
    """When the walk reaches its rest (an idle rest's own leave not counted)."""
    return _timeline(progress)[-1][1]


def walked(progress: Progress, now: datetime) -> list[tuple[str, datetime]]:
    """The states entered by ``now``, each with when: a resource's status history."""
    settled = settle(progress, now)
    if settled is not progress:  # the whole walk and its rest, then the leave so far
        return [*_timeline(progress), *walked(settled, now)]
    current = status_at(progress, now)
    history = []
    for state, moment in _timeline(progress):
        history.append((state, moment))
        if state == current:
            break
    return history


def apply(
    lifecycle: Lifecycle, progress: Progress, move: str, now: datetime, speed: float
) -> Progress:
    """``move`` asked at ``now``, from the walk as it stands then (an idle leave that is due
    included). Asking for where the resource already rests or heads changes nothing (a second
    stop does not restart a stopping session); asking from a state the move does not leave from
    is an ``InvalidTransition``. The new walk has no idle rest: the owner gives it one."""
    wanted = lifecycle.moves[move]
    progress = settle(progress, now)
    if progress.rest == wanted.rest:
        return progress
    current = status_at(progress, now)
    if wanted.allowed is not None and current not in wanted.allowed:
        raise InvalidTransition(f"Cannot {move} while {current}", param="status")
    return begin(wanted.steps, wanted.rest, now, speed)
