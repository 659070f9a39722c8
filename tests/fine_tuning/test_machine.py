"""The job state machine: transition tables, the plan an uninterrupted job follows, and a
hypothesis property that random pokes (time, cancel, fail, injected faults) keep every invariant
and always end in a terminal status."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.core.lifecycle import entered_at, status_at
from mock_server.fine_tuning.events import Checkpoint, Event, EventType, Metric
from mock_server.fine_tuning.machine import advance, fail, inject_fault, request_cancel
from mock_server.fine_tuning.metrics import schedule
from mock_server.fine_tuning.models import (
    LIVE,
    TERMINAL,
    TRANSITIONS,
    Fault,
    InvalidTransition,
    Job,
    JobStatus,
    Timeline,
    Transition,
)
from mock_server.fine_tuning.plan import plan, status_walk
from mock_server.fine_tuning.timing import end_time
from tests.builders import PHASES, T0, durations, make_job, pending_event

S = JobStatus
E = EventType
FAR = timedelta(days=30)


def _reachable(status: JobStatus) -> set[JobStatus]:
    seen: set[JobStatus] = set()
    todo = [status]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _run(job: Job, moment: datetime) -> Job:
    return advance(job, moment).job


# -- the tables -----------------------------------------------------------------------------------


def test_every_status_has_a_row_in_transitions() -> None:
    assert set(TRANSITIONS) == set(JobStatus)


def test_terminal_and_live_split_the_statuses() -> None:
    assert TERMINAL == {S.cancelled, S.error, S.user_error, S.completed}
    assert LIVE == set(JobStatus) - TERMINAL


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_terminal_statuses_have_no_exits(status: JobStatus) -> None:
    assert TRANSITIONS[status] == frozenset()


@pytest.mark.parametrize("status", sorted(LIVE))
def test_every_live_status_can_reach_cancelled_and_error(status: JobStatus) -> None:
    assert {S.cancelled, S.error, S.user_error} <= _reachable(status)


@pytest.mark.parametrize("status", sorted(LIVE))
def test_every_live_status_can_reach_a_terminal_status_but_not_go_back(status: JobStatus) -> None:
    assert status not in _reachable(status)
    assert _reachable(status) & TERMINAL


def test_the_happy_path_is_a_chain_of_single_moves() -> None:
    chain = [S.pending, S.queued, S.running, S.compressing, S.uploading, S.completed]
    for here, nxt in zip(chain, chain[1:], strict=False):
        assert nxt in TRANSITIONS[here]


def _job_in(status: JobStatus) -> tuple[Job, datetime]:
    """A 6-step job brought to ``status`` the way the service gets it there, and the moment."""
    job = make_job()
    if status is S.pending:
        return job, T0
    if status in (S.cancel_requested, S.cancelled):
        running, now = _job_in(S.running)
        job = request_cancel(running, now).job
        if status is S.cancelled:
            now = now + FAR
            job = _run(job, now)
        return job, now
    if status in (S.error, S.user_error):
        running, now = _job_in(S.running)
        return fail(running, now, "boom", kind=status.value).job, now  # type: ignore[arg-type]
    for milestone in plan(job):
        if milestone.status is status:
            return _run(job, milestone.at), milestone.at
    raise AssertionError(f"no milestone reaches {status}")


def _through_next_milestone(job: Job, now: datetime) -> Transition:
    upcoming = [m for m in plan(job)[job.cursor :] if m.status is not None]
    return advance(job, upcoming[0].at if upcoming else now + FAR)


ACTIONS: dict[str, Callable[[Job, datetime], Transition]] = {
    "advance": _through_next_milestone,
    "request_cancel": request_cancel,
    "fail(error)": lambda job, now: fail(job, now, "boom"),
    "fail(user_error)": lambda job, now: fail(job, now, "bad data", kind="user_error"),
    "inject_fault": lambda job, now: inject_fault(job, Fault(at_step=job.total_steps), now),
}

Raises = type[InvalidTransition]
X: Raises = InvalidTransition
TABLE: dict[JobStatus, tuple[JobStatus | Raises, ...]] = {
    # advance, request_cancel, fail(error), fail(user_error), inject_fault
    S.pending: (S.queued, S.cancel_requested, S.error, S.user_error, S.pending),
    S.queued: (S.running, S.cancel_requested, S.error, S.user_error, S.queued),
    S.running: (S.compressing, S.cancel_requested, S.error, S.user_error, S.running),
    S.compressing: (S.uploading, S.cancel_requested, S.error, S.user_error, S.error),
    S.uploading: (S.completed, S.cancel_requested, S.error, S.user_error, S.error),
    S.cancel_requested: (S.cancelled, X, S.error, S.user_error, S.error),
    S.cancelled: (S.cancelled, X, X, X, X),
    S.error: (S.error, X, X, X, X),
    S.user_error: (S.user_error, X, X, X, X),
    S.completed: (S.completed, X, X, X, X),
}
CASES = [
    pytest.param(status, action, expected, id=f"{status.value}-{action}")
    for status, row in TABLE.items()
    for action, expected in zip(ACTIONS, row, strict=True)
]


def test_the_table_covers_every_status() -> None:
    assert set(TABLE) == set(JobStatus)


@pytest.mark.parametrize(("status", "action", "expected"), CASES)
def test_transition_table(status: JobStatus, action: str, expected: JobStatus | Raises) -> None:
    job, now = _job_in(status)
    assert job.status is status
    if isinstance(expected, JobStatus):
        moved = ACTIONS[action](job, now).job
        assert moved.status is expected
        if expected is not status:
            assert expected in TRANSITIONS[status]
    else:
        with pytest.raises(expected):
            ACTIONS[action](job, now)


def test_an_invalid_transition_names_the_job_and_both_statuses() -> None:
    job, now = _job_in(S.completed)
    with pytest.raises(InvalidTransition) as caught:
        request_cancel(job, now)
    assert str(caught.value) == f"job {job.id} is completed: it cannot become cancel_requested"
    assert caught.value.job is job
    assert caught.value.target is S.cancel_requested


def test_advance_leaves_a_terminal_job_exactly_as_it_was() -> None:
    job, now = _job_in(S.completed)
    moved = advance(job, now + FAR)
    assert moved == Transition(job)


# -- single moves ---------------------------------------------------------------------------------


def test_request_cancel_emits_cancel_requested_at_the_current_step() -> None:
    job = _run(make_job(), T0 + timedelta(seconds=59))  # training starts at 50 s, 3 s a step
    moved = request_cancel(job, T0 + timedelta(seconds=59))
    assert moved.job.status is S.cancel_requested
    assert moved.job.cancel_requested_at == T0 + timedelta(seconds=59)
    assert [(e.type, e.message, e.step) for e in moved.events] == [
        (E.cancel_requested, "Job cancellation requested", 3)
    ]


def test_a_cancelled_job_stops_after_the_cancel_delay_and_keeps_its_steps() -> None:
    now = T0 + timedelta(seconds=59)
    job = request_cancel(_run(make_job(), now), now).job
    assert _run(job, now + timedelta(seconds=4.9)).status is S.cancel_requested
    stopped = advance(job, now + timedelta(seconds=5))
    assert stopped.job.status is S.cancelled
    assert stopped.job.steps_completed == 3
    assert [(e.type, e.message, e.step) for e in stopped.events] == [
        (E.job_stopped, "Job was stopped at 2026-01-01T00:01:04Z", 3)
    ]
    assert stopped.checkpoints == []


def test_fail_ends_the_job_now_with_an_error_event() -> None:
    now = T0 + timedelta(seconds=56)
    moved = fail(_run(make_job(), now), now, "CUDA out of memory")
    assert moved.job.status is S.error
    assert moved.job.failed_at == now
    assert moved.job.failure_message == "CUDA out of memory"
    assert [(e.type, e.level, e.message, e.step) for e in moved.events] == [
        (E.job_error, "error", "CUDA out of memory", 2)
    ]


def test_fail_as_user_error_emits_job_user_error() -> None:
    moved = fail(make_job(), T0, "bad data", kind="user_error")
    assert moved.job.status is S.user_error
    assert [e.type for e in moved.events] == [E.job_user_error]


def test_an_injected_fault_fails_the_job_when_it_reaches_that_step() -> None:
    now = T0 + timedelta(seconds=51)
    job = inject_fault(_run(make_job(), now), Fault(at_step=4, message="node lost"), now).job
    assert job.status is S.running
    assert _run(job, T0 + timedelta(seconds=61.9)).status is S.running
    failed = advance(job, T0 + FAR)
    assert failed.job.status is S.error
    assert failed.job.steps_completed == 4
    assert failed.job.failed_at == T0 + timedelta(seconds=62)
    assert failed.job.failure_message == "Job failed at step 4: node lost"
    assert [(e.type, e.step) for e in failed.events] == [
        (E.epoch_complete, 3),
        (E.job_error, 4),
    ]


def test_an_injected_user_error_fault_ends_in_user_error() -> None:
    job = inject_fault(make_job(), Fault(kind="user_error", at_step=1), T0).job
    failed = advance(job, T0 + FAR)
    assert failed.job.status is S.user_error
    assert failed.events[-1].type is E.job_user_error


def test_an_injected_fault_at_a_step_already_passed_fails_the_job_now() -> None:
    now = T0 + timedelta(seconds=60)
    job = _run(make_job(), now)
    assert job.steps_completed == 3
    moved = inject_fault(job, Fault(at_step=2, message="late"), now)
    assert moved.job.status is S.error
    assert moved.job.failed_at == now
    assert [(e.type, e.message) for e in moved.events] == [(E.job_error, "late")]


def test_an_injected_fault_past_the_last_step_is_rejected() -> None:
    job = make_job()
    with pytest.raises(ValueError, match=r"^at_step must be between 1 and 6 \(got 7\)$"):
        inject_fault(job, Fault(at_step=7), T0)


def test_started_at_is_when_the_job_started_running() -> None:
    job = make_job(started_at=None)
    assert _run(job, T0 + timedelta(seconds=29)).started_at is None
    done = _run(job, T0 + FAR)
    assert done.status is S.completed
    assert done.started_at == T0 + timedelta(seconds=30)
    assert done.updated_at == end_time(job)


# -- the plan of an uninterrupted job -------------------------------------------------------------


def test_a_default_job_walks_the_documented_timeline() -> None:
    job = make_job(n_checkpoints=2)
    seen = [
        (m.at - T0, m.status, m.event.type if m.event else None, m.checkpoint and m.checkpoint.step)
        for m in plan(job)
    ]
    s = timedelta(seconds=1)
    assert seen == [
        (5 * s, S.queued, None, None),
        (30 * s, S.running, E.job_start, None),
        (45 * s, None, E.model_download_complete, None),
        (50 * s, None, E.training_data_download_complete, None),
        (50 * s, None, E.training_start, None),
        (59 * s, None, E.epoch_complete, None),
        (59 * s, None, E.checkpoint_save, 3),
        (68 * s, None, E.epoch_complete, None),
        (68 * s, None, E.training_complete, None),
        (68 * s, S.compressing, E.model_uploading, None),
        (68 * s, None, E.model_compressing, None),
        (113 * s, S.uploading, E.model_compression_complete, None),
        (173 * s, None, E.model_upload_complete, None),
        (173 * s, None, None, 6),
        (173 * s, None, None, 6),
        (173 * s, S.completed, E.job_complete, None),
    ]


def test_the_plan_changes_status_where_the_lifecycle_walk_enters_it() -> None:
    job = make_job(durations=durations(Timeline(speed=7.0)))  # moments no whole microsecond
    walk = status_walk(job)
    changes = [(m.status.value, m.at) for m in plan(job) if m.status is not None]
    assert changes == [(status, entered_at(walk, status)) for status, _ in changes]
    assert [status for status, _ in changes] == [
        "queued",
        "running",
        "compressing",
        "uploading",
        "completed",
    ]


def test_a_fault_or_a_cancel_cuts_the_walk_and_a_real_job_s_rests_in_running() -> None:
    faulted = make_job(fault=Fault(at_step=2, kind="user_error"))
    assert status_walk(faulted).rest == "user_error"
    assert entered_at(status_walk(faulted), "user_error") == T0 + timedelta(seconds=56)
    assert entered_at(status_walk(faulted), "compressing") is None
    asked = T0 + timedelta(seconds=40)  # running; the cancel takes 5 s
    walk = status_walk(request_cancel(_run(make_job(), asked), asked).job)
    assert entered_at(walk, "cancel_requested") == asked
    assert entered_at(walk, "cancelled") == asked + timedelta(seconds=5)
    real = status_walk(make_job(trainer="real"))
    assert (real.rest, entered_at(real, "running")) == ("running", T0 + timedelta(seconds=30))


def test_the_real_services_messages_are_used() -> None:
    job = make_job(wandb_url="https://wandb.ai/together/together/runs/x")
    messages = [m.event.message for m in plan(job) if m.event]
    assert messages == [
        "Job started at 2026-01-01T00:00:30Z",
        "Model data downloaded for meta-llama/Meta-Llama-3.1-8B-Instruct-Reference at "
        "2026-01-01T00:00:45Z",
        "Training data downloaded for meta-llama/Meta-Llama-3.1-8B-Instruct-Reference at "
        "2026-01-01T00:00:50Z",
        "WandB run initialized.",
        "Training started for model meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "Epoch completed, at step 3",
        "Epoch completed, at step 6",
        "Training completed for meta-llama/Meta-Llama-3.1-8B-Instruct-Reference at "
        "2026-01-01T00:01:08Z",
        "Uploading output model",
        "Compressing output model",
        "Model compression complete",
        "Model upload complete",
        "Job finished at 2026-01-01T00:02:53Z",
    ]


def test_an_instant_job_is_finished_by_the_first_read() -> None:
    job = make_job(durations=durations(Timeline.instant()), n_checkpoints=3)
    done = advance(job, T0)
    assert done.job.status is S.completed
    assert done.job.steps_completed == 6
    assert done.job.epochs_completed == 2
    assert [c.checkpoint_type for c in done.checkpoints] == [
        "Intermediate",
        "Intermediate",
        "Final Merged",
        "Final Adapter",
    ]


def test_a_full_fine_tune_saves_one_final_checkpoint() -> None:
    job = make_job(training_type={"type": "Full"})
    done = advance(job, T0 + FAR)
    assert [(c.checkpoint_type, c.kind, c.step) for c in done.checkpoints] == [
        ("Final", "model", 6)
    ]


def test_evaluations_need_a_validation_file() -> None:
    without = advance(make_job(n_evals=3), T0 + FAR)
    assert without.job.evals_completed == 0
    assert E.eval_complete not in [e.type for e in without.events]
    with_file = advance(make_job(n_evals=3, validation_file="file-v"), T0 + FAR)
    assert with_file.job.evals_completed == 3
    assert [e.step for e in with_file.events if e.type is E.eval_complete] == [2, 4, 6]
    assert [m.step for m in with_file.metrics if "eval/loss" in m.values] == [2, 4, 6]


# -- the property ---------------------------------------------------------------------------------

_DURATION = st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.5, 30.0])


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    n_epochs = draw(st.integers(1, 4))
    steps_per_epoch = draw(st.integers(1, 8))
    total = n_epochs * steps_per_epoch
    validation = draw(st.booleans())
    lora = draw(st.booleans())
    if draw(st.booleans()):
        phases = durations(Timeline.instant())
    else:  # any phase may take no time, except the step: an instant step is the instant timeline
        phases = {phase: draw(_DURATION) for phase in PHASES}
        phases["step"] = draw(st.sampled_from([0.5, 1.0, 3.0, 7.0]))
    kind = draw(st.sampled_from(["linear", "cosine"]))
    args: dict[str, Any] = {"min_lr_ratio": draw(st.sampled_from([0.0, 0.1, 0.5]))}
    if kind == "cosine":
        args["num_cycles"] = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return make_job(
        n_epochs=n_epochs,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        n_checkpoints=draw(st.integers(1, total)),
        n_evals=draw(st.integers(0, 5)) if validation else 0,
        validation_file="file-v" if validation else "",
        training_type={"type": "Lora", "lora_r": 8} if lora else {"type": "Full"},
        training_method={"method": draw(st.sampled_from(["sft", "dpo"]))},
        wandb_url=draw(st.sampled_from(["", "https://wandb.ai/together/together/runs/x"])),
        learning_rate=draw(st.sampled_from([1e-5, 3e-4])),
        warmup_ratio=draw(st.sampled_from([0.0, 0.1, 0.5])),
        lr_scheduler={"lr_scheduler_type": kind, "lr_scheduler_args": args},
        random_seed=draw(st.integers(0, 3)),
        durations=phases,
    )


_OP = st.one_of(
    st.tuples(st.just("tick"), st.floats(0, 90, allow_nan=False)),
    st.tuples(st.just("next"), st.just(0)),  # exactly to the next milestone's time
    st.tuples(st.just("cancel"), st.just(0)),
    st.tuples(st.just("fail"), st.sampled_from(["error", "user_error"])),
    st.tuples(st.just("fault"), st.integers(1, 40)),
)


class _Run:
    """A job poked the way the fine-tuning service pokes it: always advanced to ``now`` before a
    move."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.now = job.created_at
        self.events: list[Event] = [pending_event(job)]
        self.checkpoints: list[Checkpoint] = []
        self.metrics: list[Metric] = []

    def apply(self, transition: Transition, before: Job, *, single_move: bool) -> None:
        after = transition.job
        if before.status in TERMINAL:
            assert after == before
        elif after.status is not before.status:
            allowed = TRANSITIONS[before.status] if single_move else _reachable(before.status)
            assert after.status in allowed, (before.status, after.status)
        assert before.steps_completed <= after.steps_completed <= after.total_steps
        self.job = after
        self.events += transition.events
        self.checkpoints += transition.checkpoints
        self.metrics += transition.metrics
        times = [e.created_at for e in self.events]
        assert times == sorted(times)
        assert all(c.step <= after.steps_completed for c in self.checkpoints)
        steps = [m.step for m in self.metrics]
        assert steps == sorted(set(steps))
        assert all(step <= after.steps_completed for step in steps)
        assert after.evals_completed <= after.n_evals
        # The status the milestones leave once caught up to this moment is the lifecycle
        # engine's (a move made at ``now`` may leave a milestone due at ``now`` itself, e.g. a
        # zero-second cancel, for the next read). At the creating instant the engine shows the
        # first state even where an instant job's milestones have all fired ("finished by the
        # first read").
        if self.now > after.created_at:
            caught_up = advance(after, self.now).job
            assert status_at(status_walk(caught_up), self.now) == caught_up.status.value

    def catch_up(self) -> None:
        self.apply(advance(self.job, self.now), self.job, single_move=False)

    def move(self, op: str, arg: Any) -> None:
        if op == "tick":
            self.now += timedelta(seconds=arg)
            self.catch_up()
            return
        if op == "next":
            upcoming = plan(self.job)[self.job.cursor :]
            if upcoming:
                self.now = max(self.now, upcoming[0].at)
            self.catch_up()
            return
        self.catch_up()
        before = self.job
        action: Callable[[Job, datetime], Transition]
        if op == "cancel":
            action = request_cancel
            legal = before.status in LIVE and before.status is not S.cancel_requested
        elif op == "fail":
            action = lambda job, now: fail(job, now, "boom", kind=arg)  # noqa: E731
            legal = before.status in LIVE
        else:
            fault = Fault(at_step=arg)
            action = lambda job, now: inject_fault(job, fault, now)  # noqa: E731
            legal = before.status in LIVE
            if legal and arg > before.total_steps:
                with pytest.raises(ValueError):
                    action(before, self.now)
                return
        if not legal:
            with pytest.raises(InvalidTransition):
                action(before, self.now)
            return
        self.apply(action(before, self.now), before, single_move=True)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job=jobs(), ops=st.lists(_OP, max_size=12))
def test_random_pokes_keep_the_invariants_and_every_path_ends_terminal(
    job: Job, ops: list[tuple[str, Any]]
) -> None:
    run = _Run(job)
    for op, arg in ops:
        run.move(op, arg)
    run.now += FAR
    run.catch_up()
    final = run.job
    assert final.status in TERMINAL
    types = [e.type for e in run.events]
    if final.status is S.cancelled:
        assert types.count(E.cancel_requested) == 1
        assert types[-1] is E.job_stopped
        assert types.index(E.cancel_requested) < types.index(E.job_stopped)
    elif final.status is S.completed:
        assert types[-1] is E.job_complete
        assert final.steps_completed == final.total_steps
    else:
        assert types[-1] is (E.job_error if final.status is S.error else E.job_user_error)
        assert final.failed_at is not None
        assert final.failure_message is not None
    endings = {E.job_complete, E.job_stopped, E.job_error, E.job_user_error}
    assert sum(t in endings for t in types) == 1


def _expected_types(job: Job, middle: list[Event]) -> list[EventType]:
    head = [E.job_pending, E.job_start, E.model_download_complete]
    head.append(E.training_data_download_complete)
    if job.validation_file:
        head.append(E.validation_data_download_complete)
    if job.wandb_url:
        head.append(E.wandb_init)
    head.append(E.training_start)
    tail = [
        E.training_complete,
        E.model_uploading,
        E.model_compressing,
        E.model_compression_complete,
        E.model_upload_complete,
        E.job_complete,
    ]
    return head + [e.type for e in middle] + tail


@settings(max_examples=150, deadline=None)
@given(job=jobs())
def test_an_uninterrupted_job_emits_the_real_event_order_checkpoints_and_metrics(job: Job) -> None:
    done = advance(job, T0 + FAR)
    assert done.job.status is S.completed
    events = [pending_event(job), *done.events]
    middle_types = {E.epoch_complete, E.eval_complete, E.checkpoint_save}
    middle = [e for e in events if e.type in middle_types]
    assert [e.type for e in events] == _expected_types(job, middle)
    assert [e.step for e in middle] == sorted(e.step for e in middle)
    total = job.total_steps
    epochs = [e.step for e in middle if e.type is E.epoch_complete]
    assert epochs == [k * job.steps_per_epoch for k in range(1, job.n_epochs + 1)]
    evals = [e.step for e in middle if e.type is E.eval_complete]
    assert len(evals) == (min(job.n_evals, total) if job.validation_file else 0)
    saved = [e.step for e in middle if e.type is E.checkpoint_save]

    # n_checkpoints counts the final model: the others are spread evenly before it.
    intermediates = [c for c in done.checkpoints if c.checkpoint_type == "Intermediate"]
    assert [c.step for c in intermediates] == saved
    assert len(intermediates) == min(job.n_checkpoints, total) - 1
    assert all(0 < c.step < total for c in intermediates)
    finals = [(c.checkpoint_type, c.kind, c.step) for c in done.checkpoints[len(intermediates) :]]
    if job.is_lora:
        assert finals == [("Final Merged", "model", total), ("Final Adapter", "adapter", total)]
    else:
        assert finals == [("Final", "model", total)]

    assert done.job.steps_completed == total
    assert done.job.epochs_completed == job.n_epochs
    assert done.job.evals_completed == len(evals)
    metrics = done.metrics
    assert [m.step for m in metrics] == list(range(1, total + 1))
    lr = schedule(job)
    for point in metrics:
        assert point.values["train/learning_rate"] == lr.lr_at(point.step - 1)
        assert point.values["train/global_step"] == point.step
    if total >= 2:
        assert metrics[-1].values["train/loss"] < metrics[0].values["train/loss"]


def test_metrics_are_thinned_to_about_500_points_on_long_jobs() -> None:
    job = make_job(n_epochs=1, steps_per_epoch=1200, total_steps=1200)
    steps = [m.step for m in advance(job, T0 + FAR).metrics]
    assert len(steps) == 400
    assert steps[:3] == [3, 6, 9]
    assert steps[-1] == 1200


def test_the_loss_curve_is_the_same_for_the_same_job_and_seed() -> None:
    first = advance(make_job(random_seed=7), T0 + FAR).metrics
    again = advance(make_job(random_seed=7), T0 + FAR).metrics
    other = advance(make_job(random_seed=8), T0 + FAR).metrics
    assert [m.values for m in first] == [m.values for m in again]
    assert [m.values["train/loss"] for m in first] != [m.values["train/loss"] for m in other]


# -- the price's unit -----------------------------------------------------------------------------


def test_a_job_stored_with_its_price_in_cents_reads_back_in_nanodollars() -> None:
    stored_before = json.loads(make_job().model_dump_json())
    del stored_before["price_unit"]
    stored_before["total_price"] = 1500  # US cents, as jobs were stored before

    read = Job.model_validate_json(json.dumps(stored_before))

    assert (read.total_price, read.price_unit) == (15 * 10**9, "nanodollar")
    again = Job.model_validate_json(read.model_dump_json())
    assert again.total_price == 15 * 10**9
