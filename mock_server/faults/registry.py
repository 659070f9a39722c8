"""``Faults``: the fault rules in force, their counters, the seeded random source and the journal.

This is what the ``/_sim/faults`` controls, the CLI, the scenario loader and the pytest plugin
change, and what the middleware asks about each request. It is kept in memory, not in the store:
a rule's counters move on every request it matches, and persisting them would add a database
write to each one; a restart mid-"next 2 calls" has no clear meaning anyway. The rules a server
starts with (``--faults FILE``) are its *baseline*: a restart or ``/_sim/reset`` installs them
again with fresh counters, an empty journal and the random source reseeded.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mock_server.core.clock import Clock
from mock_server.core.errors import NotFound
from mock_server.core.ids import stable_int
from mock_server.faults.journal import Journal
from mock_server.faults.matching import Decision, RequestInfo, RuleState, decide
from mock_server.faults.rules import FaultRule

__all__ = ["Faults"]


def _rng(seed: int | None) -> random.Random:
    return random.Random(None if seed is None else stable_int("faults", seed))


class Faults:
    def __init__(
        self,
        clock: Clock,
        *,
        tenant_of: Callable[[str], str],
        seed: int | None = None,
        wall: Callable[[], float] = time.time,
        journal_limit: int = 5000,
    ) -> None:
        self.clock = clock
        # The server's (``Tenancy.tenant_of``): a rule's api_key and a request's key name the
        # same tenant as on the routes.
        self.tenant_of = tenant_of
        self.journal = Journal(journal_limit)
        self._wall = wall
        self._seed = seed
        self._rng = _rng(seed)
        self._states: list[RuleState] = []
        self._baseline: tuple[FaultRule, ...] = ()
        self._lock = threading.Lock()
        self._numbered = 0  # rules given an id here: f1, f2, ...
        self._requests = 0

    @property
    def active(self) -> bool:
        """Any rule installed: the middleware's one check on a request when none is."""
        return bool(self._states)

    def add(self, rule: FaultRule | Mapping[str, Any] | None = None, /, **fields: Any) -> FaultRule:
        """Install a rule (a ``FaultRule``, a mapping, or keyword fields). A rule with the id of
        an installed one replaces it, with fresh counters."""
        parsed = (
            rule
            if isinstance(rule, FaultRule)
            else FaultRule.model_validate({**(rule or {}), **fields})
        ).bound(self.tenant_of)
        with self._lock:
            if parsed.id is None:
                taken = {s.rule.id for s in self._states}
                while (candidate := f"f{self._numbered + 1}") in taken:
                    self._numbered += 1
                self._numbered += 1
                parsed = parsed.model_copy(update={"id": candidate})
            state = RuleState(parsed, added_at=self.clock.now())
            at = next((i for i, s in enumerate(self._states) if s.rule.id == parsed.id), None)
            if at is None:
                self._states.append(state)
            else:
                self._states[at] = state
        return parsed

    def extend(self, rules: Iterable[FaultRule | Mapping[str, Any]]) -> list[FaultRule]:
        return [self.add(rule) for rule in rules]

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [state.as_dict() for state in self._states]

    def remove(self, rule_id: str) -> None:
        with self._lock:
            kept = [s for s in self._states if s.rule.id != rule_id]
            if len(kept) == len(self._states):
                raise NotFound("fault", rule_id, message=f"No fault rule {rule_id!r}", param="id")
            self._states = kept

    def clear(self) -> None:
        with self._lock:
            self._states = []

    def set_baseline(self, rules: Iterable[FaultRule], *, seed: int | None = None) -> None:
        """The rules the server starts with and ``reset`` returns to (a scenario's ``seed``, if
        it has one, replaces the server's for the fault random source)."""
        self._baseline = tuple(rule.bound(self.tenant_of) for rule in rules)  # no key kept
        if seed is not None:
            self._seed = seed
        self.reset()

    def reseed(self, seed: int) -> None:
        """Restart the random source that probabilities and latencies draw from."""
        with self._lock:
            self._seed, self._rng = seed, _rng(seed)

    def reset(self) -> None:
        with self._lock:
            self._states, self._numbered, self._rng = [], 0, _rng(self._seed)
        self.journal.clear()
        self.extend(self._baseline)

    def decide(
        self, method: str, path: str, *, tenant: str | None, retry_count: int | None = None
    ) -> tuple[str, Decision]:
        """What faults a request meets, journalled as it arrives; returns its request id."""
        now, wall = self.clock.now(), self._wall()
        with self._lock:
            self._requests += 1
            request_id = f"req-{self._requests}"
            decision = decide(self._states, RequestInfo(method, path, tenant), now, self._rng)
        for firing in decision.firings:
            rule = firing.rule
            self.journal.record(
                request_id=request_id,
                at=now,
                wall_time=wall,
                method=method,
                path=path,
                tenant=tenant,
                rule=rule.id or "",
                fault=rule.terminal or "latency",
                detail=_detail(rule, firing.latency),
                retry_count=retry_count,
            )
        return request_id, decision


def _detail(rule: FaultRule, latency: float) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if rule.latency is not None:
        detail["latency"] = round(latency, 6)
    if rule.status is not None:
        detail["status"] = rule.status
        if rule.retry_after is not None:
            detail["retry_after"] = rule.retry_after
        if rule.retry_after_ms is not None:
            detail["retry_after_ms"] = rule.retry_after_ms
    if rule.truncate is not None:
        detail["truncate"] = rule.truncate
    if rule.slow_stream is not None:
        detail["slow_stream"] = rule.slow_stream.model_dump()
    return detail
