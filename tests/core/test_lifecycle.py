"""The one lifecycle engine (``mock_server.core.lifecycle``), read off a clock the tests step: a
walk's states and when each is entered, the instant clock's first state, moves and where they
may be asked from, an idle rest and a cut, and a record's progress surviving JSON; and the
queue's worker (``claims``)."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.core.errors import InvalidTransition
from mock_server.core.lifecycle import (
    Idle,
    Lifecycle,
    Move,
    Progress,
    apply,
    begin,
    cut,
    ends_at,
    entered_at,
    leaves_at,
    settle,
    status_at,
    walked,
)
from mock_server.families.queue import Queued, claims
from tests.builders import T0

SESSION = Lifecycle(
    steps=(("CREATING", 60.0),),
    rest="RUNNING",
    moves={
        "stop": Move(
            steps=(("STOPPING", 10.0),), rest="STOPPED", allowed=frozenset({"CREATING", "RUNNING"})
        ),
        "archive": Move(steps=(), rest="ARCHIVED", allowed=frozenset({"STOPPED"})),
    },
)
EVALUATION = (("pending", 5.0), ("queued", 10.0), ("running", 60.0))


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "status"),
    [
        (0, "pending"),
        (4.9, "pending"),
        (5, "queued"),
        (14.9, "queued"),
        (15, "running"),
        (74.9, "running"),
        (75, "completed"),
        (10_000, "completed"),
    ],
)
def test_an_evaluation_walks_its_states_as_the_clock_moves(seconds: float, status: str) -> None:
    progress = begin(EVALUATION, "completed", T0, speed=1.0)
    assert status_at(progress, _at(seconds)) == status


def test_speed_divides_every_state_and_the_walk_keeps_it() -> None:
    progress = begin(EVALUATION, "completed", T0, speed=3.0)
    assert status_at(progress, _at(24.9)) == "running"
    assert ends_at(progress) == _at(25)
    assert Progress.from_json(progress.to_json()) == progress


def test_the_instant_clock_shows_the_first_state_to_the_creating_request_and_then_the_rest() -> (
    None
):
    progress = begin(EVALUATION, "completed", T0, speed=math.inf)
    assert status_at(progress, T0) == "pending"
    assert status_at(progress, _at(0.001)) == "completed"


def test_the_history_lists_each_state_entered_so_far_with_when() -> None:
    progress = begin(EVALUATION, "completed", T0, speed=1.0)
    assert walked(progress, _at(20)) == [("pending", T0), ("queued", _at(5)), ("running", _at(15))]
    assert walked(progress, _at(80))[-1] == ("completed", _at(75))
    assert entered_at(progress, "queued") == _at(5)
    assert entered_at(progress, "failed") is None


def test_a_stop_while_creating_walks_through_stopping_to_stopped() -> None:
    created = begin(SESSION.steps, SESSION.rest, T0, speed=1.0)
    stopped = apply(SESSION, created, "stop", _at(30), speed=1.0)
    assert [status_at(stopped, _at(s)) for s in (30, 39, 40)] == ["STOPPING", "STOPPING", "STOPPED"]


def test_asking_again_for_where_a_resource_heads_changes_nothing() -> None:
    created = begin(SESSION.steps, SESSION.rest, T0, speed=1.0)
    stopping = apply(SESSION, created, "stop", _at(70), speed=1.0)
    assert apply(SESSION, stopping, "stop", _at(75), speed=1.0) is stopping


def test_a_move_from_a_state_it_does_not_leave_is_an_invalid_transition() -> None:
    running = begin(SESSION.steps, SESSION.rest, T0, speed=1.0)
    with pytest.raises(InvalidTransition, match="Cannot archive while RUNNING"):
        apply(SESSION, running, "archive", _at(70), speed=1.0)


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=5), st.floats(0, 1000))
def test_every_walk_ends_in_its_rest(durations: list[float], extra: float) -> None:
    steps = tuple((f"s{i}", seconds) for i, seconds in enumerate(durations))
    progress = begin(steps, "done", T0, speed=1.0)
    assert status_at(progress, ends_at(progress) + timedelta(seconds=extra + 1e-3)) == "done"


def test_a_status_changes_on_the_very_moment_entered_at_gives() -> None:
    progress = begin(EVALUATION, "completed", T0, speed=7.0)  # 5/7 s is no whole microsecond
    for state in ("queued", "running", "completed"):
        moment = entered_at(progress, state)
        assert moment is not None
        assert status_at(progress, moment) == state
        assert status_at(progress, moment - timedelta(microseconds=1)) != state


# -- a cut ----------------------------------------------------------------------------------------


def test_a_cut_keeps_what_was_walked_and_goes_on_from_the_moment_it_was_asked() -> None:
    progress = begin(EVALUATION, "completed", T0, speed=1.0)
    cancelled = cut(progress, _at(20), (("cancelling", 5.0),), "cancelled")
    assert walked(cancelled, _at(100)) == [
        ("pending", T0),
        ("queued", _at(5)),
        ("running", _at(15)),
        ("cancelling", _at(20)),
        ("cancelled", _at(25)),
    ]


def test_a_state_due_on_the_moment_of_the_cut_is_never_entered() -> None:
    progress = begin(EVALUATION, "completed", T0, speed=1.0)
    failed = cut(progress, _at(15), (), "error")
    assert (entered_at(failed, "running"), entered_at(failed, "error")) == (None, _at(15))
    assert cut(progress, T0, (), "error").walk == ()


def test_a_cut_after_the_rest_is_reached_keeps_the_rest_until_then() -> None:
    progress = begin(EVALUATION, "completed", T0, speed=1.0)
    archived = cut(progress, _at(100), (), "archived")
    assert walked(archived, _at(100))[-2:] == [("completed", _at(75)), ("archived", _at(100))]


# -- an idle rest ---------------------------------------------------------------------------------


def _idle_session(touched: float | None = None) -> Progress:
    """A session that starts in 60 s and stops (10 s) after 300 s without use."""
    stop = SESSION.moves["stop"]
    idle = Idle(300.0, stop.steps, stop.rest, _at(touched) if touched is not None else None)
    return Progress(since=T0, walk=SESSION.steps, rest=SESSION.rest, idle=idle)


def test_an_idle_rest_leaves_by_itself_once_unused_that_long_after_it_is_reached() -> None:
    progress = _idle_session()
    assert leaves_at(progress) == _at(360)
    assert [status_at(progress, _at(s)) for s in (359.9, 360, 369.9, 370)] == [
        "RUNNING",
        "STOPPING",
        "STOPPING",
        "STOPPED",
    ]
    assert entered_at(progress, "STOPPED") == _at(370)
    assert walked(progress, _at(365)) == [
        ("CREATING", T0),
        ("RUNNING", _at(60)),
        ("STOPPING", _at(360)),
    ]


def test_a_use_restarts_the_idle_clock_but_one_before_the_rest_does_not() -> None:
    assert leaves_at(_idle_session(touched=100)) == _at(400)
    assert leaves_at(_idle_session(touched=10)) == _at(360)  # idle from 60 s, when it is reached
    assert leaves_at(begin(SESSION.steps, SESSION.rest, T0, speed=1.0)) is None


def test_a_move_asked_after_an_idle_leave_starts_from_it() -> None:
    progress = _idle_session()
    assert settle(progress, _at(359)) is progress
    assert settle(progress, _at(400)) == Progress(_at(360), (("STOPPING", 10.0),), "STOPPED")
    assert apply(SESSION, progress, "stop", _at(365), speed=1.0).since == _at(360)  # unchanged
    with pytest.raises(InvalidTransition, match="Cannot archive while STOPPING"):
        apply(SESSION, progress, "archive", _at(365), speed=1.0)  # the idle stop is under way
    assert apply(SESSION, progress, "archive", _at(370), speed=1.0).rest == "ARCHIVED"


def test_an_idle_rest_survives_json_and_a_plain_one_is_stored_as_before() -> None:
    progress = _idle_session(touched=100)
    assert Progress.from_json(progress.to_json()) == progress
    plain = begin(EVALUATION, "completed", T0, speed=1.0)
    assert set(plain.to_json()) == {"since", "walk", "rest"}


# -- the queue's worker ---------------------------------------------------------------------------


_submissions = itertools.count()


def _job(name: str, submitted: float, priority: int = 0, canceled: float | None = None) -> Queued:
    """A 10 s job; jobs are submitted in the order this is called."""
    cancel = _at(canceled) if canceled is not None else None
    return Queued(name, _at(submitted), priority, 10.0, cancel, next(_submissions))


def test_the_worker_takes_the_highest_priority_first_and_equals_in_submission_order() -> None:
    jobs = [_job("a", 0), _job("b", 0), _job("c", 0, priority=5), _job("d", 1)]
    assert claims(jobs, _at(100)) == {"c": _at(0), "a": _at(10), "b": _at(20), "d": _at(30)}


def test_a_later_job_of_higher_priority_goes_before_earlier_ones_still_waiting() -> None:
    jobs = [_job("a", 0), _job("b", 1), _job("urgent", 5, priority=9)]
    assert claims(jobs, _at(100)) == {"a": _at(0), "urgent": _at(10), "b": _at(20)}


def test_a_cancelled_job_is_skipped_and_claims_stop_at_now() -> None:
    jobs = [_job("a", 0), _job("b", 0, canceled=3), _job("c", 0)]
    assert claims(jobs, _at(100)) == {"a": _at(0), "c": _at(10)}
    assert claims(jobs, _at(9)) == {"a": _at(0)}
