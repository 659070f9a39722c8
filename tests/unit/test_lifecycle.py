"""The families' lifecycle (``mock_server.core.lifecycle``), read off a clock the tests step: a
walk's
states and when each is entered, the instant clock's first state, moves and where they may be
asked from, and a record's progress surviving JSON; and the queue's worker (``claims``)."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_server.core.errors import InvalidTransition
from mock_server.core.lifecycle import (
    Lifecycle,
    Move,
    Progress,
    apply,
    begin,
    ends_at,
    entered_at,
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
