"""``seconds_to_next_status``: how far ``run_until`` moves the clock at each turn."""

from __future__ import annotations

from datetime import timedelta

from mock_server.fine_tuning.machine import advance
from mock_server.fine_tuning.models import JobStatus
from mock_server.fine_tuning.plan import plan
from mock_server.testing.in_process import seconds_to_next_status
from tests.builders import T0, make_job


def test_a_pending_job_is_next_moved_by_its_queue_phase():
    job = make_job()

    assert seconds_to_next_status(job, T0) == job.durations["queue"]


def test_the_wait_is_rounded_up_to_the_millisecond():
    job = make_job()

    assert seconds_to_next_status(job, T0 + timedelta(seconds=4, microseconds=1)) == 1.0


def test_a_real_job_running_is_moved_to_the_end_of_its_plan_where_its_worker_takes_over():
    job = make_job(trainer="real")
    at_running = next(m.at for m in plan(job) if m.status is JobStatus.running)
    running = advance(job, at_running).job
    end = plan(running)[-1].at

    assert running.status is JobStatus.running
    assert end > at_running  # the downloads and training_start come after running
    assert seconds_to_next_status(running, at_running) == (end - at_running).total_seconds()


def test_nothing_is_planned_for_a_real_job_in_training():
    job = make_job(trainer="real")
    training = advance(job, plan(job)[-1].at).job

    assert seconds_to_next_status(training, plan(job)[-1].at) is None
