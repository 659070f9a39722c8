"""Small builders for the domain records the unit tests need: a ``Job`` in any shape, a
``FileRecord``, the pending event a new job starts with.

Every field a test does not name gets a plain default, so a test reads as the few things it is
about (``make_job(total_steps=4, n_checkpoints=2)``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mock_server.core.clock import utc
from mock_server.files.models import FilePurpose, FileRecord, FileType
from mock_server.fine_tuning.events import Event, EventType
from mock_server.fine_tuning.machine import advance
from mock_server.fine_tuning.models import Job, JobStatus, Timeline
from mock_server.fine_tuning.progress import launch
from mock_server.fine_tuning.reports import Started, Step

__all__ = ["PHASES", "T0", "durations", "make_file", "make_job", "pending_event"]

T0 = utc(2026, 1, 1)
PHASES = tuple(Timeline().durations())
FAR = T0 + timedelta(days=1)  # long after any test job's planned milestones


def durations(timeline: Timeline | None = None) -> dict[str, float]:
    return (timeline or Timeline()).durations()


def make_job(**overrides: Any) -> Job:
    """A LoRA SFT job of 2 epochs x 3 steps, created at ``T0`` on the default timeline."""
    fields: dict[str, Any] = {
        "id": "ft-00000000-0000-4000-8000-000000000001",
        "status": JobStatus.pending,
        "created_at": T0,
        "updated_at": T0,
        "user_id": "user-tenant-a",
        "owner_address": "tenant-a@together-sim.local",
        "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "model_output_name": "sim-user/Meta-Llama-3.1-8B-Instruct-Reference-0123abcd",
        "training_file": "file-00000000-0000-4000-8000-000000000001",
        "n_epochs": 2,
        "steps_per_epoch": 3,
        "total_steps": 6,
        "n_checkpoints": 1,
        "batch_size": 8,
        "max_seq_length": 8192,
        "token_count": 12_000,
        "param_count": 8_030_261_248,
        "training_method": {"method": "sft", "train_on_inputs": "auto"},
        "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
        "lr_scheduler": {"lr_scheduler_type": "linear", "lr_scheduler_args": {"min_lr_ratio": 0}},
        "tenant": "tenant-a",
        "durations": durations(),
    }
    fields.update(overrides)
    return Job(**fields)


def pending_event(job: Job) -> Event:
    return Event(
        created_at=job.created_at,
        type=EventType.job_pending,
        message="Fine tune request created",
        total_steps=job.total_steps,
    )


def make_file(
    file_id: str = "file-00000000-0000-4000-8000-0000000000f1",
    *,
    tenant: str = "tenant-a",
    created_at: datetime = T0,
    **overrides: Any,
) -> FileRecord:
    fields: dict[str, Any] = {
        "id": file_id,
        "tenant": tenant,
        "filename": "train.jsonl",
        "bytes": 120,
        "created_at": created_at,
        "purpose": FilePurpose.fine_tune,
        "file_type": FileType.jsonl,
        "sha256": "0" * 64,
    }
    fields.update(overrides)
    return FileRecord(**fields)


# -- a real job's worker ---------------------------------------------------------------------------


def real_job_in_training(**overrides: Any) -> Job:
    """A real job advanced to where its worker takes over, with the worker launched."""
    return launch(advance(make_job(trainer="real", **overrides), FAR).job).job


def worker_started(**overrides: Any) -> Started:
    """The worker's first report for a 4-step micro job on the CPU."""
    fields: dict[str, Any] = {
        "total_steps": 4,
        "steps_per_epoch": 2,
        "token_count": 800,
        "param_count": 782_976,
        "trainable_param_count": 73_728,
        "device": "cpu",
        "dtype": "float32",
    }
    return Started(**{**fields, **overrides})


def worker_step(step: int, loss: float, **fields: Any) -> Step:
    """A step report of that job (2 steps an epoch, 200 tokens a step)."""
    return Step(
        step=step,
        loss=loss,
        lr=1e-3,
        tokens=200,
        tokens_per_s=5000.0,
        epoch=step / 2,
        seconds_per_step=0.5,
        **fields,
    )
