"""What the dashboard shows, gathered from the services as plain JSON-ready dicts.

An admin's dashboard looks across tenants, as the ``/_sim`` controls do; a tenant's (``only``,
where keys are configured) sees its own files, jobs and events, the fault rules that can touch it
and the journal entries of its own requests. A tenant id is an HMAC of an API key under the data
dir's secret (``core/tenancy.py``), so nothing here can show a key or lead back to one: rows carry
tenant ids, and fault rules keep a tenant, never the ``api_key`` they were given.

Jobs are read through the src, which brings them up to the clock's time, so the page sees what
a client polling the job would see; the tenant list reads the store as it is, so an idle page
open on one tenant does not move every other tenant's jobs each second.

A job's status timeline is not stored as such: it is read back from its events (each status
change but ``queued`` comes with one) and its plan (``queued`` comes from the milestone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.core.clock import Clock
from mock_server.core.errors import NotFound
from mock_server.core.timefmt import iso
from mock_server.faults.registry import Faults
from mock_server.files.models import FileRecord
from mock_server.files.service import FileService
from mock_server.fine_tuning.events import Event, EventType, Metric
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.fine_tuning.plan import plan
from mock_server.fine_tuning.service import FineTuning
from mock_server.fine_tuning.timing import seconds_remaining
from mock_server.store import Store, UnreadableRecord

__all__ = [
    "JOURNAL_SHOWN",
    "faults",
    "files",
    "job_detail",
    "jobs",
    "loss_curves",
    "snapshot",
    "status_timeline",
    "tenants",
]

JOURNAL_SHOWN = 100  # newest journal entries on the page; the whole journal is at /_sim/journal

# The event that comes with each status change (plan.py plans them; progress.py and the cancel
# and fail moves emit the same types).
_STATUS_OF_EVENT: dict[EventType, JobStatus] = {
    EventType.job_start: JobStatus.running,
    EventType.model_uploading: JobStatus.compressing,
    EventType.model_compression_complete: JobStatus.uploading,
    EventType.job_complete: JobStatus.completed,
    EventType.cancel_requested: JobStatus.cancel_requested,
    EventType.job_stopped: JobStatus.cancelled,
    EventType.job_error: JobStatus.error,
    EventType.job_user_error: JobStatus.user_error,
}


@dataclass(frozen=True)
class Sources:
    """What the page reads: the services, not their internals."""

    store: Store
    clock: Clock
    files: FileService
    jobs: FineTuning
    faults: Faults


def tenants(src: Sources, only: str | None = None) -> list[dict[str, Any]]:
    """Every tenant (or ``only`` that one, if it has anything yet), the most recently active
    first, with how many files and jobs it has."""
    store = src.store
    return [
        {"id": t, "files": len(store.list_files(t)), "jobs": len(store.list_jobs(t))}
        for t in store.list_tenants()
        if only is None or t == only
    ]


def _file_row(record: FileRecord) -> dict[str, Any]:
    report = record.validation_report or {}
    return {
        "id": record.id,
        "filename": record.filename,
        "bytes": record.bytes,
        "purpose": record.purpose.value,
        "file_type": record.file_type.value,
        "created_at": iso(record.created_at),
        "processing_status": record.processing_status,
        "num_samples": record.num_samples,
        "token_count": record.token_count,
        "error": report.get("error"),
    }


def files(src: Sources, tenant: str) -> list[dict[str, Any]]:
    """The tenant's files, newest first."""
    return [_file_row(f) for f in reversed(src.files.files(tenant))]


def _job_row(src: Sources, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status.value,
        "model": job.model,
        "suffix": job.suffix,
        "output_name": job.model_output_name,
        "trainer": job.trainer,
        "method": job.training_method.get("method", "sft"),
        "lora": job.is_lora,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "steps_completed": job.steps_completed,
        "total_steps": job.total_steps,
        "epochs_completed": job.epochs_completed,
        "n_epochs": job.n_epochs,
        "seconds_remaining": seconds_remaining(job, src.clock.now()),
        "training_file": job.training_file,
        "validation_file": job.validation_file or None,
        "failure_message": job.failure_message,
    }


def jobs(src: Sources, tenant: str) -> list[dict[str, Any]]:
    """The tenant's jobs brought up to the clock's time, newest first."""
    return [_job_row(src, job) for job in reversed(src.jobs.jobs(tenant))]


def status_timeline(job: Job, events: list[Event]) -> list[dict[str, Any]]:
    """Each status the job has been in and when it got there, oldest first."""
    changes = [(job.created_at, JobStatus.pending)]
    applied = plan(job)[: job.cursor]
    changes += [(m.at, m.status) for m in applied if m.status is JobStatus.queued]
    changes += [
        (e.created_at, _STATUS_OF_EVENT[e.type]) for e in events if e.type in _STATUS_OF_EVENT
    ]
    changes.sort(key=lambda change: change[0])  # stable: same-moment changes keep their order
    return [{"status": status.value, "at": iso(at)} for at, status in changes]


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "at": iso(event.created_at),
        "type": event.type.value,
        "level": event.level,
        "message": event.message,
        "step": event.step,
    }


def loss_curves(metrics: list[Metric]) -> dict[str, list[dict[str, float]]]:
    """``train/loss`` and ``eval/loss`` by step, as the chart draws them."""
    curves: dict[str, list[dict[str, float]]] = {"train": [], "eval": []}
    for point in metrics:
        for name, key in (("train", "train/loss"), ("eval", "eval/loss")):
            if key in point.values:
                curves[name].append({"step": point.step, "loss": point.values[key]})
    return curves


def job_detail(src: Sources, tenant: str, job_id: str) -> dict[str, Any]:
    """One job with its timeline, events, checkpoints and loss curves."""
    job = src.jobs.job(tenant, job_id)
    events = src.store.list_events(job.id)
    return {
        **_job_row(src, job),
        "timeline": status_timeline(job, events),
        "events": [_event_row(e) for e in events],
        "checkpoints": [c.render() for c in src.jobs.checkpoints(tenant, job.id)],
        "metrics": loss_curves(src.store.list_metrics(job.id)),
    }


def faults(src: Sources, only: str | None = None) -> dict[str, Any]:
    """The fault rules in force, with their counters, and the newest journal entries; for
    ``only`` a tenant, the rules for every tenant or for it, and its own requests' entries."""
    journal = src.faults.journal
    entries = journal.entries()
    rules = src.faults.rules()
    if only is not None:
        rules = [r for r in rules if r.get("tenant") in (None, only)]
        entries = [e for e in entries if e.tenant == only]
    return {
        "rules": rules,
        "journal": [e.as_dict() for e in reversed(entries[-JOURNAL_SHOWN:])],
        "journal_total": len(entries),
        "journal_dropped": journal.dropped,
    }


def snapshot(
    src: Sources,
    *,
    clock_mode: str,
    tenant: str | None = None,
    job_id: str | None = None,
    only: str | None = None,
) -> dict[str, Any]:
    """Everything the page shows at once, of every tenant or ``only`` one. An unknown (or no)
    tenant or job, or for ``only`` any other tenant, falls back to the most recently active
    tenant it may see and its newest job, so a fresh page shows something."""
    known = tenants(src, only)
    ids: list[str] = [t["id"] for t in known]
    chosen = tenant if tenant in ids else (ids[0] if ids else None)
    listed = jobs(src, chosen) if chosen else []
    detail = None
    if chosen and listed:
        listed_ids: list[str] = [j["id"] for j in listed]
        wanted = job_id if job_id is not None and job_id in listed_ids else listed_ids[0]
        try:
            detail = job_detail(src, chosen, wanted)
        except (NotFound, UnreadableRecord):  # deleted, or overwritten, since the listing
            detail = None
    return {
        "now": iso(src.clock.now()),
        "clock": clock_mode,
        "tenants": known,
        "tenant": chosen,
        "files": files(src, chosen) if chosen else [],
        "jobs": listed,
        "job": detail,
        **faults(src, only),
    }
