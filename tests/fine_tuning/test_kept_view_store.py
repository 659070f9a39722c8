"""KeptViews: a body is kept until its moment, and never when the job changed while it was being
rendered (the runner thread moves real jobs while polls render them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mock_server.fine_tuning.kept_views import KeptViews

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_kept_body_answers_until_its_moment_then_is_gone() -> None:
    views = KeptViews()
    views.keep("t", "ft-1", False, b"body", T0 + timedelta(seconds=5), version=views.version())
    assert views.get("t", "ft-1", False, T0) == b"body"
    assert views.get("t", "ft-1", True, T0) is None  # the other event casing is its own body
    assert views.get("t", "ft-1", False, T0 + timedelta(seconds=5)) is None
    assert views.get("t", "ft-1", False, T0) is None  # dropped, not just hidden


def test_a_body_read_before_a_change_is_not_kept_after_it() -> None:
    views = KeptViews()
    seen = views.version()  # a poll starts reading the job ...
    views.forget("t", "ft-1")  # ... the runner moves it and forgets the kept body ...
    views.keep("t", "ft-1", False, b"stale", None, version=seen)  # ... the poll finishes
    assert views.get("t", "ft-1", False, T0) is None
    views.keep("t", "ft-1", False, b"fresh", None, version=views.version())
    assert views.get("t", "ft-1", False, T0) == b"fresh"


def test_the_oldest_body_goes_first_when_full_and_disabled_keeps_nothing() -> None:
    views = KeptViews(size=2)
    for job in ("ft-1", "ft-2", "ft-3"):
        views.keep("t", job, False, job.encode(), None, version=views.version())
    assert views.get("t", "ft-1", False, T0) is None
    assert views.get("t", "ft-3", False, T0) == b"ft-3"
    off = KeptViews(enabled=False)
    off.keep("t", "ft-1", False, b"x", None, version=off.version())
    assert off.get("t", "ft-1", False, T0) is None


def test_a_still_job_is_taken_as_stored_until_it_moves_and_a_forget_ends_that() -> None:
    views = KeptViews()
    end = T0 + timedelta(seconds=90)
    views.keep_still("t", "ft-1", T0 + timedelta(seconds=3), end, version=views.version())
    assert views.still("t", "ft-1", T0) == end
    assert views.still("t", "ft-2", T0) is None
    assert views.still("t", "ft-1", T0 + timedelta(seconds=3)) is None  # its next move is due
    views.keep_still("t", "ft-1", T0 + timedelta(seconds=9), end, version=views.version())
    views.forget("t", "ft-1")  # a cancel, a fail, a worker's report
    assert views.still("t", "ft-1", T0) is None
    seen = views.version()
    views.clear()  # a reset, while a read was bringing the job up
    views.keep_still("t", "ft-1", T0 + timedelta(seconds=9), end, version=seen)
    assert views.still("t", "ft-1", T0) is None
