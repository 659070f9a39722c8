"""What a real training worker's reports do to its job: pure, like ``machine.py``.

A real job follows its plan (``plan.py``) up to the start of training. From there the worker
(``mock_server.training.worker``) writes one JSON report per line (the types of ``reports.py``),
and the runner applies each with ``apply_report(job, report, now)``, which returns a new job and
what it emitted (events, metric points, checkpoints) as a ``Transition``, under the same
``TRANSITIONS`` rules as the plan:

    started → step … (eval, checkpoint) … → trained → packaged → uploaded
                                                       running → compressing → uploading → completed
    stopped (after a cancel) → cancelled          failed → error | user_error

Nothing here reads a clock, touches the store or starts a process. Reports for a job that has
already ended are ignored (a worker finishing its step while the job was failed from outside).

A server restart does not end a real job: the runner starts a new worker that resumes from the
last saved checkpoint (or packs the final outputs again), after a ``restarted`` report of its own.
The steps the new worker redoes were reported once already, so a step at or below the job's
``metrics_logged_to`` only moves ``steps_completed``: each step has one metric point, and its
epoch and evaluation events, exactly once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Literal

from mock_server.fine_tuning.events import Checkpoint, Event, EventType, Metric
from mock_server.fine_tuning.machine import fail, status_after
from mock_server.fine_tuning.models import TERMINAL, Job, JobStatus, Transition
from mock_server.fine_tuning.plan import in_training, job_event
from mock_server.fine_tuning.reports import (
    Failed,
    Packaged,
    Report,
    Restarted,
    Saved,
    Started,
    Step,
    Stopped,
    Trained,
    Uploaded,
)

__all__ = ["apply_report", "launch"]

# Seconds the packaging of a tiny model's output takes, added to the measured training time.
_PACKAGING_GUESS = 1.0


def launch(job: Job) -> Transition:
    """Note that a worker was started, so a restarted server knows an orphan from a new job."""
    if not in_training(job) or job.status is not JobStatus.running or job.worker_launched:
        raise ValueError(f"job {job.id} is not waiting for a training worker")
    return Transition(job.model_copy(update={"worker_launched": True}))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def apply_report(job: Job, report: Report, now: datetime) -> Transition:
    if job.status in TERMINAL:
        return Transition(job)
    if isinstance(report, Failed):
        return fail(job, now, report.message, kind=report.kind)
    if isinstance(report, Stopped):
        return _stopped(job, report, now)
    if job.status is JobStatus.cancel_requested and not isinstance(report, Step | Saved):
        return Transition(job)  # the stop is on its way; nothing new starts meanwhile
    if isinstance(report, Restarted):
        return _restarted(job, report, now)
    if isinstance(report, Started):
        return _started(job, report, now)
    if isinstance(report, Step):
        return _step(job, report, now)
    if isinstance(report, Saved):
        return _saved(job, report, now)
    if isinstance(report, Trained):
        return _trained(job, report, now)
    if isinstance(report, Packaged):
        if job.status is JobStatus.uploading:  # packed again after a restart
            return Transition(job)
        moved = status_after(job, JobStatus.uploading, now)
        ev = job_event(
            moved,
            now,
            EventType.model_compression_complete,
            "Model compression complete",
            step=job.steps_completed,
        )
        return Transition(moved, [ev])
    return _uploaded(job, report, now)


def _started(job: Job, r: Started, now: datetime) -> Transition:
    moved = job.model_copy(
        update={
            "total_steps": r.total_steps,
            "steps_per_epoch": r.steps_per_epoch,
            "token_count": r.token_count,
            "param_count": r.param_count,
            "eval_steps": max(1, r.total_steps // job.n_evals) if job.n_evals else 0,
            "updated_at": now,
        }
    )
    if r.restarted:  # said when the job started, and the restart by its own event
        return Transition(moved)
    events = [job_event(moved, now, EventType.warning, note, level="warning") for note in r.notes]
    start = f" from checkpoint {r.init_from}" if r.init_from else ""
    how = r.dtype
    if r.device == "cpu" and r.threads:
        how += f", {r.threads} thread{'s' if r.threads > 1 else ''}"
    events.append(
        job_event(
            moved,
            now,
            EventType.training_start,
            f"Training started for model {job.model}{start} on {r.device} ({how}), "
            f"'{r.stand_in}' stand-in: {r.trainable_param_count:,} of {r.param_count:,} "
            f"parameters trainable, {r.total_steps} steps",
        )
    )
    return Transition(moved, events)


def _restarted(job: Job, r: Restarted, now: datetime) -> Transition:
    if r.packaging:
        message = "Packaging the output model again after a restart of the simulator"
        ev = job_event(job, now, EventType.job_restarted, message, step=job.steps_completed)
        return Transition(job, [ev])
    moved = job.model_copy(
        update={
            "steps_completed": r.step,
            "epochs_completed": min(job.n_epochs, r.step // max(1, job.steps_per_epoch)),
            "updated_at": now,
        }
    )
    message = (
        f"Training resumed from step {r.step} after a restart of the simulator (its checkpoint "
        f"at step {r.step})"
        if r.step
        else "Training restarted from step 0 after a restart of the simulator: no checkpoint "
        "had been saved"
    )
    return Transition(moved, [job_event(moved, now, EventType.job_restarted, message, step=r.step)])


def _step(job: Job, r: Step, now: datetime) -> Transition:
    spe = max(1, job.steps_per_epoch)
    left = max(0, job.total_steps - r.step) * r.seconds_per_step + _PACKAGING_GUESS
    redone = r.step <= job.metrics_logged_to  # reported before a restart: said once already
    moved = job.model_copy(
        update={
            "steps_completed": r.step,
            "epochs_completed": min(job.n_epochs, r.step // spe),
            "evals_completed": job.evals_completed + (r.eval_loss is not None and not redone),
            "metrics_logged_to": max(job.metrics_logged_to, r.step),
            "eta": now + timedelta(seconds=left),
            "updated_at": now,
        }
    )
    if redone:
        return Transition(moved)
    values = {
        "train/loss": r.loss,
        "train/learning_rate": r.lr,
        "train/global_step": float(r.step),
        "train/epoch": r.epoch,
    }
    events: list[Event] = []
    if r.step % spe == 0 or r.step == job.total_steps:
        events.append(
            job_event(
                moved,
                now,
                EventType.epoch_complete,
                f"Epoch completed, at step {r.step}",
                step=r.step,
                training_offset=math.ceil(r.step / spe),
            )
        )
    if r.eval_loss is not None:
        values["eval/loss"] = r.eval_loss
        events.append(
            job_event(
                moved,
                now,
                EventType.eval_complete,
                f"Evaluation completed at step {r.step}: eval loss {r.eval_loss:.4f}",
                step=r.step,
            )
        )
    done = Transition(moved, events, metrics=[Metric(step=r.step, logged_at=now, values=values)])
    if job.fault is not None and r.step >= job.fault.at_step:
        failed = fail(
            moved,
            now,
            f"Job failed at step {job.fault.at_step}: {job.fault.message}",
            kind=job.fault.kind,
        )
        return Transition(failed.job, done.events + failed.events, metrics=done.metrics)
    return done


def _saved(job: Job, r: Saved, now: datetime) -> Transition:
    kind: Literal["adapter", "model"] = "adapter" if job.is_lora else "model"
    checkpoint = Checkpoint(
        step=r.step, created_at=now, checkpoint_type="Intermediate", path=r.path, kind=kind
    )
    ev = job_event(
        job,
        now,
        EventType.checkpoint_save,
        f"New checkpoint saved at step {r.step}",
        step=r.step,
        checkpoint_path=r.path,
    )
    return Transition(job, [ev], [checkpoint])


def _trained(job: Job, r: Trained, now: datetime) -> Transition:
    moved = status_after(job, JobStatus.compressing, now).model_copy(
        update={
            "steps_completed": r.steps_completed,
            "eta": now + timedelta(seconds=_PACKAGING_GUESS),
        }
    )
    step: dict[str, Any] = {"step": r.steps_completed}
    return Transition(
        moved,
        [
            job_event(
                moved,
                now,
                EventType.training_complete,
                f"Training completed for {job.model} at {_stamp(now)} "
                f"({r.steps_completed} steps, {r.token_count:,} tokens in {r.seconds:.1f} s)",
                **step,
            ),
            job_event(moved, now, EventType.model_uploading, "Uploading output model", **step),
            job_event(moved, now, EventType.model_compressing, "Compressing output model", **step),
        ],
    )


def _uploaded(job: Job, r: Uploaded, now: datetime) -> Transition:
    moved = status_after(job, JobStatus.completed, now).model_copy(update={"eta": None})
    last = job.steps_completed
    finals: list[tuple[str, Literal["adapter", "model"], str]] = (
        [("Final Merged", "model", r.model_path), ("Final Adapter", "adapter", r.adapter_path)]
        if job.is_lora
        else [("Final", "model", r.model_path)]
    )
    checkpoints = [
        Checkpoint(step=last, created_at=now, checkpoint_type=label, path=path, kind=kind)
        for label, kind, path in finals
    ]
    events = [
        job_event(
            moved,
            now,
            EventType.model_upload_complete,
            "Model upload complete",
            step=last,
            model_path=r.model_path,
        ),
        job_event(
            moved,
            now,
            EventType.job_complete,
            f"Job finished at {_stamp(now)}",
            step=last,
            model_path=r.model_path,
        ),
    ]
    return Transition(moved, events, checkpoints)


def _stopped(job: Job, r: Stopped, now: datetime) -> Transition:
    if job.status is not JobStatus.cancel_requested:
        return fail(job, now, f"Training stopped unexpectedly at step {r.step}")
    moved = status_after(job, JobStatus.cancelled, now).model_copy(
        update={"steps_completed": r.step, "eta": None}
    )
    ev = job_event(
        moved, now, EventType.job_stopped, f"Job was stopped at {_stamp(now)}", step=r.step
    )
    return Transition(moved, [ev])
