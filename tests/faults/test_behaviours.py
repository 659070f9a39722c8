"""Job and file behaviours from scenarios: applied once at creation (or validation) by pure
functions, after which the job's own plan carries them; ``advance`` shows what they did."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from mock_server.core.tenancy import Tenancy
from mock_server.faults.behaviours import (
    FOREVER,
    Behaviours,
    FileBehaviour,
    JobBehaviour,
    shape_file,
    shape_job,
)
from mock_server.fine_tuning.machine import advance, request_cancel
from mock_server.fine_tuning.models import JobStatus
from tests.builders import T0, make_file, make_job

tenant_of = Tenancy(b"s" * 32).tenant_of

# The default timeline: queued at 5 s, running at 30 s, steps from 50 s, 3 s each.


def _at(job, seconds: float):
    return advance(job, T0 + timedelta(seconds=seconds)).job


def test_a_job_set_to_fail_at_a_step_ends_in_error_there() -> None:
    job = shape_job(
        make_job(n_epochs=4, total_steps=12, steps_per_epoch=3),
        JobBehaviour(fail={"at_step": 5, "message": "CUDA out of memory"}),
        T0,
    )
    assert (job.status, job.fault.at_step if job.fault else None) == (JobStatus.pending, 5)
    assert _at(job, 64.9).status is JobStatus.running
    failed = advance(job, T0 + timedelta(seconds=65))
    assert (failed.job.status, failed.job.steps_completed) == (JobStatus.error, 5)
    assert failed.events[-1].message == "Job failed at step 5: CUDA out of memory"


def test_a_step_past_the_last_fails_the_job_at_its_last_step() -> None:
    job = shape_job(make_job(), JobBehaviour(fail={"at_step": 40, "kind": "user_error"}), T0)
    assert job.fault is not None and job.fault.at_step == job.total_steps == 6
    assert _at(job, 10_000).status is JobStatus.user_error


def test_a_job_stuck_in_queued_stays_there_until_cancelled() -> None:
    job = shape_job(make_job(), JobBehaviour(stuck={"status": "queued"}), T0)
    assert job.durations["start"] == FOREVER
    queued = _at(job, 30 * 86400)
    assert queued.status is JobStatus.queued
    cancelling = request_cancel(queued, T0 + timedelta(days=30)).job
    assert _at(cancelling, 30 * 86400 + 5).status is JobStatus.cancelled


def test_a_job_stuck_for_a_while_moves_on_after_it() -> None:
    job = shape_job(make_job(), JobBehaviour(stuck={"status": "pending", "seconds": 3600}), T0)
    assert _at(job, 3599).status is JobStatus.pending
    assert _at(job, 3600).status is JobStatus.queued


def test_a_slow_cancel_lands_after_its_seconds() -> None:
    job = _at(shape_job(make_job(), JobBehaviour(cancel_seconds=600), T0), 40)
    cancelling = request_cancel(job, T0 + timedelta(seconds=40)).job
    assert _at(cancelling, 639).status is JobStatus.cancel_requested
    assert _at(cancelling, 640).status is JobStatus.cancelled


def test_a_file_behaviour_makes_validation_fail_with_its_message_and_line() -> None:
    record = make_file(
        processed=True, processing_status="COMPLETED", validation_report={"valid": True}
    )
    failed = shape_file(record, FileBehaviour(invalid="missing 'content'", line=3))
    assert (failed.processing_status, failed.valid) == ("INVALID_FORMAT", False)
    assert failed.validation_report == {
        "valid": False,
        "error": "missing 'content'",
        "error_type": "INVALID_FORMAT",
        "error_source": "format",
        "line_number": 3,
        "message": "missing 'content'",
    }


def test_behaviours_select_by_suffix_and_next_counts_down() -> None:
    behaviours = Behaviours(tenant_of=tenant_of)
    behaviours.add({"id": "nightly", "suffix": "nightly*", "fail": {"at_step": 2}})
    behaviours.add({"id": "one-stuck", "next": 1, "stuck": {"status": "queued"}})
    nightly = behaviours.new_job(make_job(suffix="nightly-3"), T0)
    assert (nightly.fault is not None, nightly.durations["start"]) == (True, FOREVER)
    later = behaviours.new_job(make_job(suffix="nightly-4"), T0)
    assert (later.fault is not None, later.durations["start"]) == (True, 25.0)
    other = behaviours.new_job(make_job(suffix="adhoc"), T0)
    assert (other.fault, other.durations["start"]) == (None, 25.0)
    assert [(b["id"], b["kind"], b["remaining"]) for b in behaviours.listed()] == [
        ("nightly", "job", None),
        ("one-stuck", "job", 0),
    ]


def test_behaviours_for_an_api_key_touch_only_that_tenant_and_reset_restores_the_baseline() -> None:
    behaviours = Behaviours(tenant_of=tenant_of)
    behaviours.set_baseline(
        [FileBehaviour.model_validate({"api_key": "k", "filename": "*.jsonl", "invalid": "bad"})]
    )
    mine = make_file(tenant=tenant_of("k"), processing_status="COMPLETED")
    assert behaviours.validated_file(mine).processing_status == "INVALID_FORMAT"
    assert behaviours.validated_file(make_file()).processing_status == "PENDING"
    behaviours.add({"cancel_seconds": 1})
    behaviours.reset()
    assert [b["kind"] for b in behaviours.listed()] == ["file"]


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"suffix": "x"}, "needs fail, stuck or cancel_seconds"),
        ({"stuck": {"status": "running"}}, "Input should be 'pending', 'queued'"),
        ({"fail": {"at_step": 0}}, "greater than or equal to 1"),
        ({"fail": {"at_step": 3}, "sufix": "x"}, "Extra inputs are not permitted"),
        ({"fail": {"at_step": 3}, "api_key": "k", "tenant": "t"}, "api_key or tenant, not both"),
        # Past a century, or infinite, the job's next move would be past the last date a
        # datetime holds, and every read of the job would fail.
        ({"stuck": {"status": "queued", "seconds": 1e300}}, "less than or equal to"),
        ({"stuck": {"status": "queued", "seconds": float("inf")}}, "finite number"),
        ({"cancel_seconds": float("nan")}, "finite number"),
    ],
)
def test_a_job_behaviour_that_cannot_mean_anything_is_refused(fields, complaint) -> None:
    with pytest.raises(ValidationError, match=complaint):
        JobBehaviour.model_validate(fields)
