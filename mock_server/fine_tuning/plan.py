"""A job's plan: every milestone (a status change, an event, a checkpoint) at its due time,
decided when the job is created from its size and the timeline.

The statuses are a walk on the one lifecycle engine (``core/lifecycle.py``): the job's uncut
course (``course.py``: the running status lasts the downloads and every optimizer step), which
``status_walk`` cuts by a fault, a cancel or a failure. The plan puts each status change
on the milestone of the event that announces it, at the moment the walk enters it, and fills
the moments between with what training emits (downloads, epochs, evals, checkpoints).

Pure and cheap to ask again: the uncut plan depends only on what the job was created with, so it
is remembered (``remembered.py``; its moments alone for many more jobs: what ``timing.py`` asks
on each read); a cancel or an injected fault cuts it at that moment. A real job's plan stops at
the start of training, where its worker's reports take over (``progress.py``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from mock_server.core.lifecycle import Progress, Steps, begin, cut
from mock_server.fine_tuning.course import course, entered, span, status_steps, step_time
from mock_server.fine_tuning.events import Checkpoint, Event, EventType
from mock_server.fine_tuning.models import FAILED, Job, JobStatus, Milestone
from mock_server.fine_tuning.remembered import Remembered

__all__ = [
    "checkpoint_steps",
    "eval_steps",
    "fault_due",
    "in_training",
    "job_event",
    "plan",
    "status_walk",
    "uncut_moments",
]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def fault_due(job: Job) -> bool:
    """An injected fault still to fire on the clock. A real job's fires on the worker's step
    report (``progress.apply_report``), not on a clock."""
    return job.fault is not None and job.failed_at is None and job.trainer != "real"


def _planned_walk(job: Job) -> Progress:
    """The statuses the clock moves the job through: its course, or a real job's up to its
    worker's hand-off, cut by a fault still to fire and by a cancel."""
    d, s = job.durations, JobStatus
    if job.trainer == "real":
        walk = begin(status_steps(job)[:2], s.running.value, job.created_at, speed=1.0)
    else:
        walk = course(job)
    if fault_due(job):
        assert job.fault is not None
        walk = cut(walk, step_time(job, job.fault.at_step), (), job.fault.kind)
    if job.cancel_requested_at is not None:
        if in_training(job):  # the worker confirms the stop with a report
            stop: Steps = ()
            stopped = s.cancel_requested
        else:
            stop, stopped = ((s.cancel_requested.value, span(d["cancel"])),), s.cancelled
        walk = cut(walk, job.cancel_requested_at, stop, stopped.value)
    return walk


def status_walk(job: Job) -> Progress:
    """The job's statuses on the lifecycle engine: ``status_at(status_walk(job), now)`` is the
    status ``advance(job, now)`` leaves it in, each change at the moment ``entered_at`` gives;
    a failure asked through the controls (``fail``) ends it there.

    A real job's walk rests in ``running``, where its worker's reports take over; after that its
    stored status, moved by the reports, is the truth and the walk no longer follows it.
    """
    walk = _planned_walk(job)
    if job.failed_at is not None and job.status in FAILED:  # a fault that fired, or a fail now
        walk = cut(walk, job.failed_at, (), job.status.value)
    return walk


def _spread(count: int, total: int) -> list[int]:
    """``count`` steps spread evenly over ``1..total``, the last one at ``total``."""
    if count <= 0 or total <= 0:
        return []
    return sorted({max(1, round(k * total / count)) for k in range(1, count + 1)})


def checkpoint_steps(job: Job) -> list[int]:
    """Steps of the intermediate checkpoints; the final one is saved on completion."""
    return [s for s in _spread(job.n_checkpoints, job.total_steps) if s < job.total_steps]


def eval_steps(job: Job) -> list[int]:
    return _spread(job.n_evals, job.total_steps) if job.validation_file else []


def job_event(job: Job, at: datetime, type_: EventType, message: str, **fields: Any) -> Event:
    fields.setdefault("token_count", job.token_count)
    fields.setdefault("param_count", job.param_count)
    fields.setdefault("total_steps", job.total_steps)
    fields.setdefault("wandb_url", job.wandb_url)
    return Event(created_at=at, type=type_, message=message, **fields)


def _ms(at: datetime, status: JobStatus | None = None, event: Event | None = None) -> Milestone:
    return Milestone(at=at, status=status, event=event)


def _full_plan(job: Job) -> list[Milestone]:
    d, model, walk = job.durations, job.model, course(job)
    out: list[Milestone] = []

    def note(
        at: datetime, type_: EventType, message: str, status: JobStatus | None = None, **fields: Any
    ) -> None:
        out.append(_ms(at, status, job_event(job, at, type_, message, **fields)))

    queued = entered(walk, JobStatus.queued)
    running = entered(walk, JobStatus.running)
    downloaded = running + timedelta(seconds=d["model_download"])
    data = downloaded + timedelta(seconds=d["data_download"])
    out.append(_ms(queued, JobStatus.queued))
    note(running, EventType.job_start, f"Job started at {_stamp(running)}", JobStatus.running)
    note(
        downloaded,
        EventType.model_download_complete,
        f"Model data downloaded for {model} at {_stamp(downloaded)}",
    )
    note(
        data,
        EventType.training_data_download_complete,
        f"Training data downloaded for {model} at {_stamp(data)}",
    )
    if job.validation_file:
        note(
            data,
            EventType.validation_data_download_complete,
            f"Validation data downloaded for {model} at {_stamp(data)}",
        )
    if job.wandb_url:
        note(data, EventType.wandb_init, "WandB run initialized.")
    note(data, EventType.training_start, f"Training started for model {model}")

    # What happens at a step, in this order when several coincide: epoch end, eval, checkpoint.
    epochs = {min(job.total_steps, e * job.steps_per_epoch): e for e in range(1, job.n_epochs + 1)}
    evals, saves = set(eval_steps(job)), set(checkpoint_steps(job))
    for step in sorted(set(epochs) | evals | saves):
        at = step_time(job, step)
        if step in epochs:
            note(
                at,
                EventType.epoch_complete,
                f"Epoch completed, at step {step}",
                step=step,
                training_offset=epochs[step],
            )
        if step in evals:
            note(at, EventType.eval_complete, f"Evaluation completed at step {step}", step=step)
        if step in saves:
            path = f"s3://together-sim/finetune/{job.id}/checkpoints/step-{step}"
            note(
                at,
                EventType.checkpoint_save,
                f"New checkpoint saved at step {step}",
                step=step,
                checkpoint_path=path,
            )
            out[-1] = replace(
                out[-1],
                checkpoint=Checkpoint(
                    step=step,
                    created_at=at,
                    checkpoint_type="Intermediate",
                    path=path,
                    kind="adapter" if job.is_lora else "model",
                ),
            )

    trained = entered(walk, JobStatus.compressing)
    compressed = entered(walk, JobStatus.uploading)
    uploaded = entered(walk, JobStatus.completed)
    out_path = f"s3://together-sim/finetune/{job.id}/{job.model_output_name}"
    last = job.total_steps
    note(
        trained,
        EventType.training_complete,
        f"Training completed for {model} at {_stamp(trained)}",
        step=last,
    )
    note(
        trained,
        EventType.model_uploading,
        "Uploading output model",
        JobStatus.compressing,
        step=last,
    )
    note(trained, EventType.model_compressing, "Compressing output model", step=last)
    note(
        compressed,
        EventType.model_compression_complete,
        "Model compression complete",
        JobStatus.uploading,
        step=last,
    )
    note(
        uploaded,
        EventType.model_upload_complete,
        "Model upload complete",
        step=last,
        model_path=out_path,
    )
    finals: list[tuple[str, Literal["adapter", "model"]]] = (
        [("Final Merged", "model"), ("Final Adapter", "adapter")]
        if job.is_lora
        else [("Final", "model")]
    )
    for label, kind in finals:
        path = out_path + ("/adapter" if kind == "adapter" else "")
        out.append(
            Milestone(
                at=uploaded,
                checkpoint=Checkpoint(
                    step=last, created_at=uploaded, checkpoint_type=label, path=path, kind=kind
                ),
            )
        )
    note(
        uploaded,
        EventType.job_complete,
        f"Job finished at {_stamp(uploaded)}",
        JobStatus.completed,
        step=last,
        model_path=out_path,
    )
    return out


def _uncut_plan(job: Job) -> list[Milestone]:
    """``_full_plan``, up to the start of training for a real job, where its worker's reports
    take over."""
    full = _full_plan(job)
    if job.trainer == "real":
        start = next(i for i, m in enumerate(full) if m.event and m.event.type is _TRAINING)
        full = full[:start]
    return full


_TRAINING = EventType.training_start
_REMEMBERED = Remembered(_uncut_plan)


def uncut_moments(job: Job) -> tuple[datetime, ...]:
    """``[m.at for m in <the uncut plan>]``, remembered for far more jobs than whole plans."""
    return _REMEMBERED.moments(job)


def plan(job: Job) -> list[Milestone]:
    """Every milestone of the job from its creation on, cut short by a cancel or a fault."""
    milestones = _REMEMBERED.milestones(job)  # the walk only for a job a fault or cancel cuts
    if fault_due(job) and job.cancel_requested_at is None:  # a cancel comes first, or the end
        assert job.fault is not None
        at = entered(_planned_walk(job), JobStatus(job.fault.kind))
        kept = [m for m in milestones if m.at < at]
        status = JobStatus(job.fault.kind)
        type_ = EventType.job_error if status is JobStatus.error else EventType.job_user_error
        event = job_event(
            job,
            at,
            type_,
            f"Job failed at step {job.fault.at_step}: {job.fault.message}",
            level="error",
            step=job.fault.at_step,
        )
        milestones = [*kept, _ms(at, status, event)]
    if job.cancel_requested_at is not None:
        asked = job.cancel_requested_at
        kept = [m for m in milestones if m.at <= asked][: job.cursor]
        if in_training(job):  # the worker confirms the stop with a report
            return kept
        at = entered(_planned_walk(job), JobStatus.cancelled)
        milestones = [
            *kept,
            _ms(
                at,
                JobStatus.cancelled,
                job_event(
                    job,
                    at,
                    EventType.job_stopped,
                    f"Job was stopped at {_stamp(at)}",
                    step=job.steps_completed,
                ),
            ),
        ]
    return milestones


def in_training(job: Job) -> bool:
    """A real job past its planned milestones: its progress now comes from a training worker."""
    return job.trainer == "real" and job.cursor >= len(uncut_moments(job))
