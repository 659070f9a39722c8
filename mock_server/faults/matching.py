"""Which installed fault rules a request meets. ``decide`` looks at one request against the
active rules with the caller's clock reading and random source (seeded from ``--seed``, so a run
replays), advances the counters of the rules that match, and says what fires: any number of
latency rules add up, and at most one *terminal* fault (a status, a reset, a truncated body, a
slow stream) replaces or alters the answer, the first one listed that fires. Pure, as the rules
are: the registry holds the states and the lock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any, Literal

from mock_server.faults.rules import FaultRule, PathPattern, compile_path_regex, operation_pattern

__all__ = [
    "Count",
    "Counter",
    "Decision",
    "Firing",
    "RequestInfo",
    "RuleState",
    "count_here",
    "decide",
]


@dataclass(frozen=True)
class RequestInfo:
    method: str
    path: str
    tenant: str | None = None


@dataclass
class RuleState:
    """A rule as installed: when it was added (its ``after``/``before`` count from there), its
    compiled match, and how many matching calls it has seen and fired on."""

    rule: FaultRule
    added_at: datetime
    seen: int = 0
    fired: int = 0
    _method: str | None = field(default=None, init=False)
    _pattern: PathPattern | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        rule = self.rule
        if rule.api_key is not None:  # it would match every tenant, not the key's
            raise ValueError("a rule's api_key is bound to its tenant before it is installed")
        self._method = rule.method.upper() if rule.method else None
        if rule.operation is not None:
            method, self._pattern = operation_pattern(rule.operation)
            self._method = method or self._method
        elif rule.path_regex is not None:
            self._pattern = compile_path_regex(rule.path_regex)

    @property
    def expired(self) -> bool:
        return self.rule.times is not None and self.fired >= self.rule.times

    def matches(self, request: RequestInfo) -> bool:
        rule = self.rule
        if self._method is not None and self._method not in ("*", request.method):
            return False
        if rule.tenant is not None and rule.tenant != request.tenant:
            return False
        if rule.path is not None:
            return fnmatchcase(request.path, rule.path)
        return self._pattern is None or self._pattern.fullmatch(request.path) is not None

    def _moment(self, value: float | datetime) -> datetime:
        return value if isinstance(value, datetime) else self.added_at + timedelta(seconds=value)

    def due(self, now: datetime) -> bool:
        """Whether the call just seen (``seen`` counts it) falls in the rule's schedule."""
        rule = self.rule
        if rule.after is not None and now < self._moment(rule.after):
            return False
        if rule.before is not None and now >= self._moment(rule.before):
            return False
        if self.seen <= rule.skip:
            return False
        return rule.every is None or (self.seen - rule.skip) % rule.every == 0

    def as_dict(self) -> dict[str, Any]:
        left = None if self.rule.times is None else self.rule.times - self.fired
        return {
            **self.rule.model_dump(mode="json", exclude_defaults=True),
            "id": self.rule.id,
            "seen": self.seen,
            "fired": self.fired,
            "remaining": left,
        }


@dataclass(frozen=True)
class Firing:
    rule: FaultRule
    latency: float  # seconds this rule adds (0 when it has no latency)


@dataclass(frozen=True)
class Decision:
    firings: tuple[Firing, ...] = ()

    @property
    def latency(self) -> float:
        return sum(f.latency for f in self.firings)

    @property
    def terminal(self) -> FaultRule | None:
        return next((f.rule for f in self.firings if f.rule.terminal), None)


Counter = Literal["seen", "fired"]
Count = Callable[[RuleState, Counter], int | None]
"""Adds one to a rule's counter and says what it is now (None: the rule is gone)."""


def count_here(state: RuleState, counter: Counter) -> int:
    """Counting in this process's memory: a single server's rules."""
    value: int = getattr(state, counter) + 1
    setattr(state, counter, value)
    return value


def decide(
    states: list[RuleState],
    request: RequestInfo,
    now: datetime,
    rng: random.Random,
    count: Count = count_here,
) -> Decision:
    """The faults ``request`` meets. Advances the counters of the rules it looks at through
    ``count`` (replicas count in their shared store, where another may have counted since this
    one last looked: a rule that has fired its ``times`` there fires no more); reads no clock and
    no global randomness (``now`` and ``rng`` come from the caller)."""
    firings: list[Firing] = []
    terminal_taken = False
    for state in states:
        if state.expired or not state.matches(request):
            continue
        if (seen := count(state, "seen")) is None:
            continue
        state.seen = seen
        rule = state.rule
        if not state.due(now) or (rule.terminal and terminal_taken):
            continue
        if rule.probability < 1 and rng.random() >= rule.probability:
            continue
        fired = count(state, "fired")
        if fired is None:
            continue
        state.fired = fired if rule.times is None else min(fired, rule.times)
        if rule.times is not None and fired > rule.times:
            continue
        firings.append(Firing(rule, rule.latency.draw(rng) if rule.latency else 0.0))
        terminal_taken = terminal_taken or rule.terminal is not None
    return Decision(tuple(firings))
