"""``Faults``: the fault rules in force, their counters, the seeded random source and the journal.

This is what the ``/_sim/faults`` controls, the CLI, the scenario loader and the pytest plugin
change, and what the middleware asks about each request. A single server keeps it in memory, not
in the store: a rule's counters move on every request it matches, and persisting them would add
a database write to each one; a restart mid-"next 2 calls" has no clear meaning anyway. The rules
a server starts with (``--faults FILE``) are its *baseline*: a restart or ``/_sim/reset``
installs them again with fresh counters, an empty journal and the random source reseeded.

Replicas sharing a database (``coherence`` given: ``core/shared.py``) keep the rules, their
counters and the journal in the store instead (controls of kind ``fault``, ``SharedJournal``):
a rule set through one fails requests on all, and "the next N" counts the requests of all of
them, each match one atomic increment (``Store.count_control``), so a rule with ``times: 2``
fires twice in all. Each replica keeps a copy of the rules to match against, reloaded when the
shared version moves. The random source stays per replica (seeded from ``--seed`` or a
scenario's seed on the replica that received it): a probability or a latency draw is then
reproducible per replica, not across them. A replica that starts with the baseline the shared
state already has leaves it alone, so a replica joining (or restarting) does not undo what the
running service was told; a different baseline, or ``/_sim/reset``, installs it for all.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from mock_server.core.clock import Clock
from mock_server.core.errors import NotFound
from mock_server.core.ids import stable_int
from mock_server.core.shared import Coherence
from mock_server.core.timefmt import iso, parse_iso
from mock_server.faults.journal import Journal, SharedJournal, loaded
from mock_server.faults.matching import Counter, Decision, RequestInfo, RuleState, decide
from mock_server.faults.rules import FaultRule
from mock_server.store.base import Control, Store

__all__ = ["Faults"]


FAULT = "fault"  # the kind of a rule's control row
_NUMBERED, _BASELINE, _REQUESTS = "faults_numbered", "faults_baseline", "faults_requests"


def _rng(seed: int | None) -> random.Random:
    return random.Random(None if seed is None else stable_int("faults", seed))


def _named(rule: FaultRule, taken: set[str | None], numbered: int) -> tuple[FaultRule, int]:
    """The rule with an id (``f1``, ``f2``, ... past those taken, if it has none) and how many
    ids have been given so far."""
    if rule.id is not None:
        return rule, numbered
    while (candidate := f"f{numbered + 1}") in taken:
        numbered += 1
    return rule.model_copy(update={"id": candidate}), numbered + 1


def _document(rule: FaultRule, added_at: datetime) -> dict[str, Any]:
    return {"rule": rule.model_dump(mode="json"), "added_at": iso(added_at)}


def _state(control: Control) -> RuleState:
    rule = FaultRule.model_validate(control.doc["rule"])
    fired = control.fired if rule.times is None else min(control.fired, rule.times)
    return RuleState(
        rule, added_at=parse_iso(control.doc["added_at"]), seen=control.seen, fired=fired
    )


class Faults:
    def __init__(
        self,
        clock: Clock,
        *,
        tenant_of: Callable[[str], str],
        seed: int | None = None,
        wall: Callable[[], float] = time.time,
        journal_limit: int = 5000,
        store: Store | None = None,
        coherence: Coherence | None = None,
    ) -> None:
        """``store`` and ``coherence``: the rules are shared with the other replicas on the
        store's database (see the module's docstring); neither: this process's own."""
        self.clock = clock
        # The server's (``Tenancy.tenant_of``): a rule's api_key and a request's key name the
        # same tenant as on the routes.
        self.tenant_of = tenant_of
        self._wall = wall
        self._seed = seed
        self._rng = _rng(seed)
        self._states: list[RuleState] = []
        self._baseline: tuple[FaultRule, ...] = ()
        self._lock = threading.Lock()
        self._numbered = 0  # rules given an id here: f1, f2, ...
        self._requests = 0
        self._store, self._coherence = store, coherence
        if coherence is None:
            self.journal: Journal = Journal(journal_limit)
            return
        if store is None:
            raise ValueError("shared fault rules need the store they are shared in")
        self.journal = SharedJournal(store, journal_limit)
        coherence.on_change(self._load)
        self._load()

    @property
    def shared(self) -> bool:
        """Whether the rules live in the store (then deciding reads and writes it)."""
        return self._coherence is not None

    def _shared(self) -> tuple[Store, Coherence]:
        assert self._store is not None and self._coherence is not None
        return self._store, self._coherence

    def _stored(self) -> list[RuleState]:
        store, _ = self._shared()
        return loaded(store.list_controls(FAULT), _state, "fault rule")

    def _load(self) -> None:
        """The shared rules copied into memory, to match requests against."""
        states = self._stored()
        with self._lock:
            self._states = states

    def _put(self, rule: FaultRule) -> FaultRule:
        """Install ``rule`` in the store; inside a ``Coherence.change``, which orders it after
        every other replica's change (its id is then the next free one of all of them)."""
        store, _ = self._shared()
        taken = {state.rule.id for state in self._stored()}
        rule, numbered = _named(rule, taken, int(store.get_meta(_NUMBERED) or 0))
        store.set_meta(_NUMBERED, str(numbered))
        assert rule.id is not None
        store.put_control(FAULT, rule.id, _document(rule, self.clock.now()))
        return rule

    def _reset_stored(self) -> None:
        store, _ = self._shared()
        store.delete_controls(FAULT)
        store.set_meta(_NUMBERED, "0")
        self.journal.clear()
        for rule in self._baseline:
            self._put(rule)

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
        if self._coherence is not None:
            with self._coherence.change():
                return self._put(parsed)
        with self._lock:
            taken = {s.rule.id for s in self._states}
            parsed, self._numbered = _named(parsed, taken, self._numbered)
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
        if self._coherence is not None:  # with the counters of every replica, as they are now
            return [state.as_dict() for state in self._stored()]
        with self._lock:
            return [state.as_dict() for state in self._states]

    def remove(self, rule_id: str) -> None:
        if self._coherence is not None:
            store, coherence = self._shared()
            with coherence.change():
                if not store.delete_controls(FAULT, rule_id):
                    raise _no_rule(rule_id)
            return
        with self._lock:
            kept = [s for s in self._states if s.rule.id != rule_id]
            if len(kept) == len(self._states):
                raise _no_rule(rule_id)
            self._states = kept

    def clear(self) -> None:
        if self._coherence is not None:
            store, coherence = self._shared()
            with coherence.change():
                store.delete_controls(FAULT)
            return
        with self._lock:
            self._states = []

    def set_baseline(self, rules: Iterable[FaultRule], *, seed: int | None = None) -> None:
        """The rules the server starts with and ``reset`` returns to (a scenario's ``seed``, if
        it has one, replaces the server's for the fault random source)."""
        self._baseline = tuple(rule.bound(self.tenant_of) for rule in rules)  # no key kept
        if seed is not None:
            self._seed = seed
        if self._coherence is None:
            self.reset()
            return
        store, coherence = self._shared()
        marker = json.dumps([rule.model_dump(mode="json") for rule in self._baseline])
        with self._lock:
            self._rng = _rng(self._seed)
        with coherence.change():
            if store.get_meta(_BASELINE) != marker:  # else: the service runs with it already
                store.set_meta(_BASELINE, marker)
                self._reset_stored()

    def reseed(self, seed: int) -> None:
        """Restart the random source that probabilities and latencies draw from."""
        with self._lock:
            self._seed, self._rng = seed, _rng(seed)

    def reset(self) -> None:
        if self._coherence is not None:
            with self._lock:
                self._rng = _rng(self._seed)
            with self._coherence.change():
                self._reset_stored()
            return
        with self._lock:
            self._states, self._numbered, self._rng = [], 0, _rng(self._seed)
        self.journal.clear()
        self.extend(self._baseline)

    def decide(
        self, method: str, path: str, *, tenant: str | None, retry_count: int | None = None
    ) -> tuple[str, Decision]:
        """What faults a request meets, journalled as it arrives; returns its request id (in
        a shared store, only a request a fault touched gets one, counted across replicas)."""
        now, wall = self.clock.now(), self._wall()
        request = RequestInfo(method, path, tenant)
        if self._coherence is not None:
            with self._lock:
                states = self._states
            decision = decide(states, request, now, self._rng, self._count)
            store, _ = self._shared()
            request_id = f"req-{store.increment_meta(_REQUESTS)}" if decision.firings else ""
        else:
            with self._lock:
                self._requests += 1
                request_id = f"req-{self._requests}"
                decision = decide(self._states, request, now, self._rng)
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

    def _count(self, state: RuleState, counter: Counter) -> int | None:
        store, _ = self._shared()
        assert state.rule.id is not None  # every installed rule has one
        return store.count_control(FAULT, state.rule.id, counter)


def _no_rule(rule_id: str) -> NotFound:
    return NotFound("fault", rule_id, message=f"No fault rule {rule_id!r}", param="id")


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
