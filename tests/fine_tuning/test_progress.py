"""A real job in the pure state machine: its plan stops where training starts, the worker's
reports move it from there (under the same transition rules), a cancel waits for the worker, and
the worker is told what the job asked for (``spec_for``). No process, no torch."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mock_server.fine_tuning.events import EventType
from mock_server.fine_tuning.machine import advance, request_cancel, set_trainer
from mock_server.fine_tuning.models import Fault, InvalidTransition, Job, JobStatus
from mock_server.fine_tuning.plan import in_training, plan
from mock_server.fine_tuning.progress import apply_report, launch
from mock_server.fine_tuning.reports import (
    Failed,
    Packaged,
    Report,
    Saved,
    Stopped,
    Trained,
    Uploaded,
)
from mock_server.fine_tuning.timing import seconds_remaining, unchanged_until
from mock_server.real_training.progress_bar import progress_line
from mock_server.training.spec import fit_to_device, spec_for
from tests.builders import FAR, T0, make_job, real_job_in_training, worker_started, worker_step

S = JobStatus
E = EventType
STARTED = worker_started(threads=2, notes=["batch_size 32 is capped at 8 on cpu"])


def _apply(job: Job, *reports: Report) -> tuple[Job, list[EventType]]:
    types: list[EventType] = []
    for i, report in enumerate(reports):
        moved = apply_report(job, report, FAR + timedelta(seconds=i))
        job = moved.job
        types += [e.type for e in moved.events]
    return job, types


def test_a_real_jobs_plan_stops_where_training_starts() -> None:
    job = make_job(trainer="real")
    assert [m.event.type for m in plan(job) if m.event] == [
        E.job_start,
        E.model_download_complete,
        E.training_data_download_complete,
    ]
    advanced = advance(job, FAR)
    assert advanced.job.status is S.running
    assert advanced.job.steps_completed == 0
    assert advanced.metrics == []
    assert in_training(advanced.job)
    assert not in_training(advance(make_job(), FAR).job)


def test_a_real_job_in_training_is_never_kept_as_a_view() -> None:
    job = real_job_in_training()
    assert unchanged_until(job, FAR) == FAR
    assert unchanged_until(make_job(trainer="real"), T0) == T0 + timedelta(seconds=1)


def test_seconds_remaining_comes_from_the_measured_step_time_once_training_runs() -> None:
    job = make_job(trainer="real")
    assert seconds_remaining(job, T0) == seconds_remaining(make_job(), T0)
    job, _ = _apply(real_job_in_training(), STARTED, worker_step(1, 3.0))
    # reported one second after FAR: three steps left at 0.5 s each, plus a second of packaging
    assert seconds_remaining(job, FAR + timedelta(seconds=1)) == 3


@pytest.mark.parametrize("status", [S.pending, S.queued])
def test_the_trainer_can_change_while_the_job_waits(status: JobStatus) -> None:
    job = make_job(status=status)
    assert set_trainer(job, "real").job.trainer == "real"


@pytest.mark.parametrize("status", [S.running, S.completed, S.cancel_requested])
def test_the_trainer_cannot_change_once_the_job_runs(status: JobStatus) -> None:
    with pytest.raises(InvalidTransition):
        set_trainer(make_job(status=status), "real")


def test_reports_take_a_real_job_from_training_start_to_completed() -> None:
    job, types = _apply(
        real_job_in_training(validation_file="file-v", n_evals=1, n_checkpoints=2),
        STARTED,
        worker_step(1, 3.0),
        worker_step(2, 2.5),
        Saved(step=2, path="/data/training/ft-1/checkpoints/checkpoint-2"),
        worker_step(3, 2.0),
        worker_step(4, 1.5, eval_loss=1.75),
        Trained(steps_completed=4, token_count=800, seconds=2.0),
    )
    assert job.status is S.compressing
    assert types == [
        E.warning,
        E.training_start,
        E.epoch_complete,
        E.checkpoint_save,
        E.epoch_complete,
        E.eval_complete,
        E.training_complete,
        E.model_uploading,
        E.model_compressing,
    ]
    assert (job.total_steps, job.steps_per_epoch, job.param_count) == (4, 2, 782_976)
    assert (job.steps_completed, job.epochs_completed, job.evals_completed) == (4, 2, 1)

    job, types = _apply(
        job,
        Packaged(archives={"adapter": "/a.tar.zst"}),
        Uploaded(model_path="/out/merged", adapter_path="/out/adapter"),
    )
    assert job.status is S.completed
    assert types == [E.model_compression_complete, E.model_upload_complete, E.job_complete]


def test_the_start_event_names_the_device_dtype_threads_and_counts() -> None:
    moved = apply_report(real_job_in_training(), STARTED, FAR)
    start = moved.events[-1]
    assert start.message == (
        "Training started for model meta-llama/Meta-Llama-3.1-8B-Instruct-Reference on cpu "
        "(float32, 2 threads), 'micro' stand-in: 73,728 of 782,976 parameters trainable, 4 steps"
    )
    assert (start.total_steps, start.param_count, start.token_count) == (4, 782_976, 800)
    assert moved.events[0].level == "warning"


def test_a_step_report_is_a_metric_point_with_the_real_values() -> None:
    job = apply_report(real_job_in_training(), STARTED, FAR).job
    moved = apply_report(job, worker_step(2, 2.5, eval_loss=2.75), FAR)
    [point] = moved.metrics
    assert point.step == 2
    assert point.values == {
        "train/loss": 2.5,
        "train/learning_rate": 1e-3,
        "train/global_step": 2.0,
        "train/epoch": 1.0,
        "eval/loss": 2.75,
    }


def test_checkpoints_carry_the_real_path() -> None:
    [checkpoint] = apply_report(
        real_job_in_training(), Saved(step=2, path="/x/checkpoint-2"), FAR
    ).checkpoints
    assert (checkpoint.step, checkpoint.path, checkpoint.kind) == (2, "/x/checkpoint-2", "adapter")
    assert checkpoint.checkpoint_type == "Intermediate"


def test_a_cancel_in_training_waits_for_the_worker_to_stop() -> None:
    job, _ = _apply(real_job_in_training(), STARTED, worker_step(1, 3.0))
    job = request_cancel(job, FAR).job
    assert advance(job, FAR + timedelta(days=1)).job.status is S.cancel_requested
    job, types = _apply(job, Trained(steps_completed=4, token_count=1, seconds=1.0))
    assert (job.status, types) == (S.cancel_requested, [])
    job, types = _apply(job, Stopped(step=2))
    assert (job.status, job.steps_completed, types) == (S.cancelled, 2, [E.job_stopped])


def test_a_cancel_before_training_follows_the_plan() -> None:
    job = request_cancel(make_job(trainer="real"), T0).job
    assert advance(job, FAR).job.status is S.cancelled


@pytest.mark.parametrize("kind", ["error", "user_error"])
def test_a_failed_report_ends_the_job_with_its_message(kind: str) -> None:
    moved = apply_report(
        real_job_in_training(), Failed(kind=kind, message="Training failed: bad"), FAR
    )  # type: ignore[arg-type]
    assert moved.job.status is S(kind)
    assert [(e.type.value, e.message) for e in moved.events] == [
        (f"job_{kind}", "Training failed: bad")
    ]


def test_a_stop_nobody_asked_for_is_an_error() -> None:
    assert apply_report(real_job_in_training(), Stopped(step=1), FAR).job.status is S.error


def test_reports_after_the_end_change_nothing() -> None:
    job, _ = _apply(real_job_in_training(), Failed(message="gone"))
    moved = apply_report(job, worker_step(1, 3.0), FAR)
    assert moved.job == job
    assert moved.events == []


def test_an_injected_fault_fires_on_the_real_step() -> None:
    job, _ = _apply(
        real_job_in_training(fault=Fault(at_step=2, message="boom")), STARTED, worker_step(1, 3.0)
    )
    assert job.status is S.running
    job, types = _apply(job, worker_step(2, 2.0))
    assert job.status is S.error
    assert types[-1] is E.job_error
    assert job.failure_message == "Job failed at step 2: boom"


def test_launch_is_once_and_only_when_training_is_due() -> None:
    with pytest.raises(ValueError):
        launch(make_job(trainer="real"))
    with pytest.raises(ValueError):
        launch(real_job_in_training())


def test_the_worker_gets_every_hyper_parameter_of_the_job() -> None:
    job = make_job(
        trainer="real",
        learning_rate=1e-5,
        n_epochs=3,
        warmup_ratio=0.1,
        max_grad_norm=0.5,
        weight_decay=0.01,
        random_seed=7,
        n_checkpoints=2,
        validation_file="file-v",
        n_evals=2,
        packing=False,
        lr_scheduler={
            "lr_scheduler_type": "cosine",
            "lr_scheduler_args": {"min_lr_ratio": 0.1, "num_cycles": 0.5},
        },
        training_type={
            "type": "Lora",
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "lora_trainable_modules": "q_proj,v_proj",
        },
    )
    spec = spec_for(
        job,
        out_dir=Path(f"/data/training/{job.id}"),
        training_path=Path("/data/blobs/f"),
        training_file_type="jsonl",
        validation_path=Path("/data/blobs/v"),
    )
    assert spec.out_dir == f"/data/training/{job.id}"
    assert spec.config == {
        "model": "micro",
        "base_model_name": job.model,
        "base_description": "the randomly initialised 'micro' stand-in, chosen by --real-model",
        "job_id": job.id,
        "training_method": "sft",
        "train_on_inputs": "auto",
        "full": False,
        "learning_rate": pytest.approx(3e-3),
        "n_epochs": 3,
        "batch_size": 8,
        "max_seq_length": 8192,
        "packing": False,
        "warmup_ratio": 0.1,
        "lr_scheduler_type": "cosine",
        "min_lr_ratio": 0.1,
        "num_cycles": 0.5,
        "max_grad_norm": 0.5,
        "weight_decay": 0.01,
        "random_seed": 7,
        "n_checkpoints": 2,
        "n_evals": 2,
        "save_merged": True,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "lora_trainable_modules": "q_proj,v_proj",
    }
    assert spec.notes == [
        "learning_rate 1e-05 is scaled by 300 to 0.003 for the randomly initialised 'micro' "
        "stand-in model"
    ]


def test_a_dpo_full_job_maps_to_a_dpo_full_run() -> None:
    job = make_job(
        training_method={"method": "dpo", "dpo_beta": 0.2, "rpo_alpha": 0.5, "simpo_gamma": 0.0},
        training_type={"type": "Full"},
        train_on_inputs=None,
        learning_rate=1e-3,
    )
    config = spec_for(
        job, out_dir=Path("/d"), training_path=Path("/f"), training_file_type="jsonl",
        validation_path=None,
    ).config  # fmt: skip
    assert config["training_method"] == "dpo"
    assert config["full"] is True
    assert config["learning_rate"] == 1e-2  # scaled, then capped
    assert (config["dpo_beta"], config["rpo_alpha"]) == (0.2, 0.5)
    assert "lora_r" not in config


def test_batch_and_sequence_length_are_capped_on_the_cpu_and_said() -> None:
    fitted, notes = fit_to_device({"batch_size": 32, "max_seq_length": 8192}, "cpu")
    assert (fitted["batch_size"], fitted["max_seq_length"]) == (8, 512)
    assert notes == [
        "batch_size 32 is capped at 8 on cpu",
        "max_seq_length 8192 is capped at 512 on cpu",
    ]
    assert fit_to_device({"batch_size": 4, "max_seq_length": 256}, "cpu") == (
        {"batch_size": 4, "max_seq_length": 256},
        [],
    )


def test_the_progress_line_shows_steps_loss_speed_and_eta() -> None:
    assert progress_line("ft-1", 12, 40, 2.31012, 8120.4, 67, width=10) == (
        "ft-1 [###-------] 12/40 loss 2.3101     8120 tok/s ETA 1:07"
    )
