"""Fault rules, pure: what a rule matches, when it fires, what it answers, and the registry that
holds rules, counters and the journal. Time comes from a ``ManualClock`` and randomness from a
seeded ``random.Random``; nothing here sleeps or opens a socket."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from pydantic import ValidationError

from mock_server.core.clock import ManualClock, utc
from mock_server.core.errors import NotFound
from mock_server.core.tenancy import Tenancy
from mock_server.faults.journal import Journal
from mock_server.faults.matching import RequestInfo, RuleState, decide
from mock_server.faults.registry import Faults
from mock_server.faults.rules import FaultRule, Latency, status_answer

T0 = utc(2026, 1, 1)
GET_JOB = RequestInfo("GET", "/v1/fine-tunes/ft-1")
TENANCY = Tenancy(b"s" * 32)
tenant_of = TENANCY.tenant_of


def _fires(rule: FaultRule, requests: list[RequestInfo], *, seed: int = 0) -> list[bool]:
    """For each request in turn, whether ``rule`` fired on it."""
    state, rng = RuleState(rule, added_at=T0), random.Random(seed)
    return [bool(decide([state], r, T0, rng).firings) for r in requests]


@pytest.mark.parametrize(
    ("match", "call", "fires"),
    [
        ({"operation": "POST /v1/fine-tunes"}, RequestInfo("POST", "/v1/fine-tunes"), True),
        ({"operation": "POST /v1/fine-tunes"}, RequestInfo("GET", "/v1/fine-tunes"), False),
        ({"operation": "POST /v1/fine-tunes"}, RequestInfo("POST", "/v1/fine-tunes/x"), False),
        ({"operation": "GET /v1/fine-tunes/{id}"}, GET_JOB, True),
        ({"operation": "GET /v1/fine-tunes/{id}"}, RequestInfo("GET", "/v1/fine-tunes/a/b"), False),
        ({"operation": "/v1/fine-tunes/{id}"}, RequestInfo("DELETE", "/v1/fine-tunes/ft-1"), True),
        ({"path": "/v1/fine-tunes/*"}, RequestInfo("GET", "/v1/fine-tunes/ft-1/events"), True),
        ({"path": "/v1/files*", "method": "put"}, RequestInfo("PUT", "/v1/files/x"), True),
        ({"path": "/v1/files*", "method": "put"}, RequestInfo("GET", "/v1/files/x"), False),
        ({"path_regex": r"/v1/fine-tunes/ft-\d+"}, GET_JOB, True),
        (
            {"path_regex": r"/v1/fine-tunes/ft-\d+"},
            RequestInfo("GET", "/v1/fine-tunes/ft-x"),
            False,
        ),
        ({}, RequestInfo("POST", "/_uploads/file-1"), True),
    ],
)
def test_a_rule_matches_by_operation_glob_or_regex(match, call, fires) -> None:
    assert _fires(FaultRule(status=503, **match), [call]) == [fires]


def test_a_rule_for_an_api_key_touches_only_that_tenant() -> None:
    given = FaultRule.model_validate({"api_key": "team-a", "status": 429})
    assert "team-a" not in given.model_dump_json()  # never listed, even before it is bound
    rule = given.bound(tenant_of)
    assert (rule.tenant, rule.api_key) == (tenant_of("team-a"), None)  # the key is forgotten
    assert "team-a" not in repr(rule)
    mine, theirs = (RequestInfo("GET", "/v1/files", tenant_of(k)) for k in ("team-a", "team-b"))
    assert _fires(rule, [mine, theirs, RequestInfo("GET", "/v1/files")]) == [True, False, False]


def test_a_rule_whose_api_key_is_not_bound_is_never_installed() -> None:
    """Unbound, it has no tenant, and would fire on every tenant's requests."""
    with pytest.raises(ValueError, match="bound to its tenant"):
        RuleState(FaultRule(api_key="team-a", status=429), added_at=T0)


def test_the_registry_binds_a_rule_key_to_the_servers_tenant_id() -> None:
    faults = Faults(ManualClock(), tenant_of=tenant_of)
    added = faults.add(api_key="team-a", status=503)
    assert added.tenant == tenant_of("team-a")
    faults.set_baseline([FaultRule(id="base", api_key="team-b", status=500)])
    assert [r.get("tenant") for r in faults.rules()] == [tenant_of("team-b")]
    assert "team-b" not in repr(faults._baseline)  # the baseline keeps the tenant, not the key


def test_times_fires_on_the_next_calls_and_then_expires() -> None:
    assert _fires(FaultRule(status=503, times=2), [GET_JOB] * 4) == [True, True, False, False]


def test_every_and_skip_count_matching_calls() -> None:
    assert _fires(FaultRule(status=503, every=3), [GET_JOB] * 7) == [
        False, False, True, False, False, True, False,
    ]  # fmt: skip
    assert _fires(FaultRule(status=503, skip=2, times=1), [GET_JOB] * 4) == [
        False, False, True, False,
    ]  # fmt: skip


def test_a_probability_draws_from_the_seeded_source_so_runs_replay() -> None:
    rule = FaultRule(status=503, probability=0.3)
    first = _fires(rule, [GET_JOB] * 200, seed=7)
    assert first == _fires(rule, [GET_JOB] * 200, seed=7)
    assert first != _fires(rule, [GET_JOB] * 200, seed=8)
    assert 40 <= sum(first) <= 80  # about 60 of 200


def test_after_and_before_are_sim_clock_times_counted_from_when_the_rule_was_added() -> None:
    state = RuleState(FaultRule(status=503, after=30, before=60), added_at=T0)
    rng = random.Random(0)
    fired = [
        bool(decide([state], GET_JOB, T0 + timedelta(seconds=s), rng).firings)
        for s in (0, 29.9, 30, 59.9, 60)
    ]
    assert fired == [False, False, True, True, False]
    absolute = RuleState(FaultRule(status=503, after=T0 + timedelta(hours=1)), added_at=T0)
    assert not decide([absolute], GET_JOB, T0, rng).firings
    assert decide([absolute], GET_JOB, T0 + timedelta(hours=1), rng).firings


def test_latency_rules_add_up_and_only_the_first_terminal_fault_fires() -> None:
    slow = RuleState(FaultRule(id="slow", latency=0.25), added_at=T0)
    slower = RuleState(FaultRule(id="slower", latency=0.5), added_at=T0)
    first = RuleState(FaultRule(id="first", status=503, times=1), added_at=T0)
    second = RuleState(FaultRule(id="second", status=429), added_at=T0)
    decision = decide([slow, first, second, slower], GET_JOB, T0, random.Random(0))
    assert [f.rule.id for f in decision.firings] == ["slow", "first", "slower"]
    assert (decision.latency, decision.terminal) == (0.75, first.rule)
    assert (second.seen, second.fired) == (1, 0)  # it saw the call but did not use it up
    again = decide([slow, first, second, slower], GET_JOB, T0, random.Random(0))
    assert again.terminal == second.rule


@pytest.mark.parametrize(
    ("given", "low", "high"),
    [(0.2, 0.2, 0.2), ({"uniform": [0.1, 0.3]}, 0.1, 0.3), ({"normal": [0.05, 0.5]}, 0.0, 600)],
)
def test_latency_draws_stay_within_their_distribution(given, low, high) -> None:
    latency, rng = Latency.model_validate(given), random.Random(3)
    draws = [latency.draw(rng) for _ in range(500)]
    assert all(low <= d <= high for d in draws)
    if "normal" in str(given):
        assert min(draws) == 0.0  # draws below zero become zero, not negative sleeps


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"status": 503, "reset": True}, "does one of status, reset"),
        ({"operation": "POST /v1/files"}, "needs a fault"),
        ({"status": 418}, "Input should be 408, 409, 429, 500, 502, 503 or 504"),
        ({"status": 503, "retryafter": 1}, "Extra inputs are not permitted"),
        ({"status": 503, "operation": "POST v1/files"}, "is not 'METHOD /path'"),
        ({"status": 503, "path": "/a", "path_regex": "/b"}, "one of operation, path, path_regex"),
        ({"latency": 1, "retry_after": 1}, "go with a status"),
        ({"status": 503, "headers": {"bad name": "x"}}, "cannot be sent as an HTTP header"),
        ({"status": 503, "headers": {"x-note": "a\r\nb"}}, "cannot be sent as an HTTP header"),
        ({"truncate": 1.0}, "less than 1"),
        ({"latency": {"uniform": [0.5, 0.1]}}, "low <= high"),
        ({"status": 503, "api_key": "k", "tenant": "t"}, "api_key or tenant, not both"),
        # Numbers a request would fail on: each matching request adds them to the clock or
        # rounds them, and an infinite one fails there.
        ({"status": 429, "retry_after": float("inf")}, "finite number"),
        ({"status": 503, "after": float("nan")}, "finite number"),
        ({"status": 503, "before": 1e300}, "at most a century"),
        ({"latency": {"normal": [1, float("inf")]}}, "finite number"),
        ({"status": 503, "path": "/v1/" + "*" * 1000}, "at most 1000 characters"),
    ],
)
def test_a_rule_that_cannot_mean_anything_is_refused(fields, complaint) -> None:
    with pytest.raises(ValidationError, match=complaint):
        FaultRule.model_validate(fields)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"/v1/(?=files)", "invalid perl operator"),  # a lookahead
        (r"/v1/(a)\1", "invalid escape sequence"),  # a backreference
        (r"/v1/(", "missing )"),
    ],
)
def test_a_path_regex_re2_cannot_match_in_linear_time_is_refused_naming_the_field(
    pattern: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        FaultRule.model_validate({"status": 503, "path_regex": pattern})
    (error,) = refused.value.errors()
    assert error["loc"] == ("path_regex",)
    assert reason in error["msg"]


def test_a_nested_quantifier_matches_a_long_path_without_backtracking() -> None:
    """``/v1/(a+)+`` against ``/v1/aaa…ab`` takes Python's ``re`` time exponential in the a's;
    RE2 answers at once, so this finishes instead of hanging the suite."""
    rule = FaultRule(status=503, path_regex="/v1/(a+)+")
    long_miss = RequestInfo("GET", "/v1/" + "a" * 5000 + "!")
    assert _fires(rule, [long_miss, RequestInfo("GET", "/v1/aaaa")]) == [False, True]


def test_a_429_carries_retry_after_and_togethers_rate_limit_headers() -> None:
    rule = FaultRule(id="r1", status=429, retry_after=1.5, retry_after_ms=1500)
    status, headers, body = status_answer(rule)
    assert status == 429
    assert dict(headers) == {
        "retry-after": "1.5",
        "retry-after-ms": "1500",
        "x-ratelimit-limit": "60",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "2",
        "x-together-sim-fault": "r1",
    }
    assert all(name == name.lower() for name, _ in headers)  # 1.5.x reads lower case only
    assert body == {
        "error": {
            "message": "Rate limit exceeded (injected by together-sim fault r1)",
            "type": "rate_limit_exceeded",
            "param": None,
            "code": None,
        }
    }


def test_a_5xx_has_a_together_error_body_and_headers_can_be_overridden() -> None:
    rule = FaultRule(
        id="down", status=503, message="Overloaded", headers={"X-Should-Retry": "false"}
    )
    status, headers, body = status_answer(rule)
    assert (status, dict(headers)) == (
        503,
        {"x-should-retry": "false", "x-together-sim-fault": "down"},
    )
    assert body["error"] == {
        "message": "Overloaded", "type": "server_error", "param": None, "code": None,
    }  # fmt: skip


def test_the_registry_numbers_rules_replaces_by_id_and_reports_counters() -> None:
    faults = Faults(ManualClock(), tenant_of=tenant_of, seed=1)
    assert faults.add(status=503).id == "f1"
    assert faults.add({"id": "up", "operation": "POST /v1/files", "status": 429}).id == "up"
    faults.decide("POST", "/v1/files", tenant=None)
    assert [(r["id"], r["seen"], r["fired"]) for r in faults.rules()] == [
        ("f1", 1, 1),
        ("up", 1, 0),  # f1 came first and took the call
    ]
    faults.add(id="up", operation="POST /v1/files", status=500, times=3)
    assert [(r["id"], r["status"], r["seen"], r["remaining"]) for r in faults.rules()] == [
        ("f1", 503, 1, None),
        ("up", 500, 0, 3),
    ]
    faults.remove("f1")
    with pytest.raises(NotFound):
        faults.remove("f1")
    assert [r["id"] for r in faults.rules()] == ["up"]


def test_the_journal_records_each_fault_with_sim_time_wall_time_and_retry_count() -> None:
    clock, wall = ManualClock(), iter([100.0, 100.4])
    faults = Faults(clock, tenant_of=tenant_of, seed=1, wall=lambda: next(wall))
    faults.add(id="slow", latency=0.1)
    faults.add(id="busy", status=503, times=1)
    faults.decide("GET", "/v1/fine-tunes/ft-1", tenant="t1", retry_count=0)
    clock.advance(5)
    faults.decide("GET", "/v1/fine-tunes/ft-1", tenant="t1", retry_count=1)
    entries = [e.as_dict() for e in faults.journal.entries()]
    assert [(e["request_id"], e["rule"], e["fault"], e["detail"]) for e in entries] == [
        ("req-1", "slow", "latency", {"latency": 0.1}),
        ("req-1", "busy", "status", {"status": 503}),
        ("req-2", "slow", "latency", {"latency": 0.1}),
    ]
    assert [(e["at"], e["wall_time"], e["retry_count"]) for e in entries] == [
        ("2026-01-01T00:00:00.000000Z", 100.0, 0),
        ("2026-01-01T00:00:00.000000Z", 100.0, 0),
        ("2026-01-01T00:00:05.000000Z", 100.4, 1),
    ]
    assert [e.rule for e in faults.journal.entries(rule="busy")] == ["busy"]


def test_the_journal_is_bounded_and_counts_what_it_dropped() -> None:
    journal = Journal(limit=3)
    for n in range(5):
        journal.record(
            request_id=f"req-{n}", at=T0, wall_time=0.0, method="GET", path="/", tenant=None,
            rule="r", fault="status",
        )  # fmt: skip
    assert [e.request_id for e in journal.entries()] == ["req-2", "req-3", "req-4"]
    assert journal.dropped == 2
    journal.clear()
    assert (journal.entries(), journal.dropped) == ([], 0)


def test_reset_returns_to_the_baseline_with_fresh_counters_and_the_same_draws() -> None:
    faults = Faults(ManualClock(), tenant_of=tenant_of, seed=5)
    faults.set_baseline([FaultRule(id="coin", status=503, probability=0.5)])

    def tosses() -> list[bool]:
        return [bool(faults.decide("GET", "/x", tenant=None)[1].firings) for _ in range(20)]

    first = tosses()
    assert 0 < sum(first) < 20
    faults.add(id="extra", latency=1)
    faults.reset()
    assert [(r["id"], r["seen"]) for r in faults.rules()] == [("coin", 0)]
    assert faults.journal.entries() == []
    assert tosses() == first


def test_counts_kept_elsewhere_decide_for_every_replica() -> None:
    """Replicas count in their shared store (``decide``'s ``count``): a rule of ``times: 2``
    that other replicas fired twice already does not fire here, though this replica's copy had
    not seen it expire, and ``every`` counts the calls of all of them."""
    shared = {("twice", "seen"): 5, ("twice", "fired"): 2, ("third", "seen"): 1}

    def count(state: RuleState, counter: str) -> int:
        key = (state.rule.id or "", counter)
        shared[key] = shared.get(key, 0) + 1
        return shared[key]

    twice = RuleState(FaultRule(id="twice", status=503, times=2), added_at=T0)
    third = RuleState(FaultRule(id="third", latency=0.1, every=3), added_at=T0)
    decisions = [decide([twice, third], GET_JOB, T0, random.Random(0), count) for _ in range(3)]
    assert [[f.rule.id for f in d.firings] for d in decisions] == [[], ["third"], []]
    assert (twice.fired, twice.expired, shared[("twice", "fired")]) == (2, True, 3)
    assert shared[("third", "seen")] == 4


def test_a_rule_gone_from_the_shared_store_fires_nowhere() -> None:
    state = RuleState(FaultRule(id="gone", status=503), added_at=T0)
    assert decide([state], GET_JOB, T0, random.Random(0), lambda s, c: None).firings == ()
