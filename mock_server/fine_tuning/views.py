"""A job as ``GET /fine-tunes/{id}`` shows it: the spec's ``FinetuneResponse``.

The stored ``Job`` keeps what the state machine needs (durations, cursor, faults); the answer
leaves those out and adds what clients read (``progress``, output paths, ``events``).
"""

from __future__ import annotations

from typing import Any

from mock_server.core.timefmt import iso
from mock_server.fine_tuning.models import Job, JobStatus
from mock_server.projects.identity import model_id_of

__all__ = ["render_job"]

_HIDDEN = {
    "tenant",
    "durations",
    "cursor",
    "metrics_logged_to",
    "cancel_requested_at",
    "failed_at",
    "fault",
    "failure_message",
    "hf_output_repo_name",
    "trainer",
    "worker_launched",
    "eta",
    "price_unit",
}


def render_job(
    job: Job, *, seconds_remaining: int, events: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A ``FinetuneResponse``: the spec's field names, strings never null (keys are left out
    instead), timestamps with microseconds and ``Z``, and the ``batch_size`` resolved to the
    integer that the 1.5.x SDK insists on."""
    body: dict[str, Any] = {
        key: value
        for key, value in job.model_dump(mode="json", exclude=_HIDDEN).items()
        if value is not None
    }
    for key in ("created_at", "updated_at", "started_at"):
        moment = getattr(job, key)
        if moment is not None:
            body[key] = iso(moment)
    body["object"] = "fine-tune"
    body["job_id"] = job.id
    body["queue_depth"] = 0
    body["model_output_path"] = f"s3://together-sim/finetune/{job.id}/{job.model_output_name}"
    if job.is_lora:
        body["adapter_output_name"] = f"{job.model_output_name}-adapter"
    if job.status is JobStatus.completed:
        # the output's id in the project's models (``/v2/projects/{id}/models/{model_object_id}``),
        # which a deployment names; SDK 3.x reads it as ``job.model_object_id``
        body["model_object_id"] = model_id_of(job.model_output_name)
    body["progress"] = {
        "estimate_available": job.status
        in (JobStatus.running, JobStatus.compressing, JobStatus.uploading),
        "seconds_remaining": seconds_remaining,
    }
    body["events"] = events if events is not None else []
    return body
