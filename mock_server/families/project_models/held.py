"""What a project holds: its models (``/v2/projects/{projectId}/models``) as ``Held`` values,
the ``DE.Model`` body with its revisions and their files, gathered from where each kind lives.
``models.py`` answers the operations on them; ``configs.py`` and ``uploads.py`` look models up
here too, which is why this is a module of its own rather than the operations' helpers.

A project holds three kinds of model, listed together, newest first:

- **fine-tune outputs**: each completed fine-tuning job's ``output_name`` (already
  ``<account>/<model>-<suffix>-<hex>``, the project's slug being the account), a LoRA adapter
  (``WEIGHTS_TYPE_ADAPTER``) or full weights on the catalogue model it was trained from
  (``baseModelId``), with one revision made when the job completed;
- **uploads** of ``POST /v1/models`` whose job is ``Complete`` (``families/model_uploads.py``),
  under the same name ``GET /v1/models`` lists;
- **registered models** (``POST``): a name, a type (``model`` or ``adapter``) and a base from
  the catalogue or the project; they have no files until a remote upload (``uploads.py``)
  succeeds, which makes a revision (and fills ``weights`` in from the base).

The first two are derived from the jobs and uploads, never copied: a change to one (its
description, visibility, or a delete) is kept as a small record of the change, which
``held_models`` lays over the derived body (or, for a delete, drops the model).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mock_server.catalogue import supported as catalogue_supported
from mock_server.catalogue.model_ids import fine_tune_revision_id
from mock_server.catalogue.supported import PUBLIC_PROJECT, Supported
from mock_server.core.lifecycle import entered_at
from mock_server.core.tenancy import organization_id, project_id
from mock_server.core.timefmt import iso
from mock_server.families.engine import Record, Resources
from mock_server.families.model_uploads import UPLOAD_JOBS
from mock_server.families.project_models.catalogue import (
    model_path,
    public_model,
    supported_by_id,
    weights_of,
)
from mock_server.families.project_models.model import (
    PROJECT_MODELS,
    REMOTE_UPLOADS,
    model_id_of,
    revision_id_of,
)
from mock_server.fine_tuning.models import JobStatus

__all__ = [
    "ADAPTER",
    "FULL",
    "Held",
    "find_model",
    "held_model",
    "held_models",
    "owner",
    "registered",
]

ADAPTER = "WEIGHTS_TYPE_ADAPTER"
FULL = "WEIGHTS_TYPE_DEFAULT"


@dataclass(frozen=True)
class Held:
    """One model of a project: its ``DE.Model`` body, what it came from, and its revisions
    (newest first) with their files."""

    body: dict[str, Any]
    source: str  # fine_tune, upload, registered
    created: datetime
    revisions: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    record: Record | None = None  # the registered model, or the change kept for a derived one


def _file(revision: str, path: str, size: int) -> dict[str, Any]:
    digest = hashlib.sha256(f"{revision}/{path}".encode()).hexdigest()
    return {"path": path, "hash": f"sha256:{digest}", "sizeBytes": str(size)}


def _files_for(revision: str, weights_type: str, base: Supported | None, rank: int) -> list[Any]:
    """The files a revision holds, sized from the base's parameter count: bf16 weights, and for
    a LoRA adapter about ``rank / 2048`` of them.  # estimated sizes"""
    params = base.param_count if base and base.param_count else 1_000_000_000
    if weights_type == ADAPTER:
        return [
            _file(revision, "adapter_config.json", 720),
            _file(revision, "adapter_model.safetensors", params * 2 * rank // 2048),
        ]
    shard = 5 * 1024**3
    total = params * 2
    count = max(1, -(-total // shard))
    shards = [
        _file(
            revision,
            f"model-{i + 1:05d}-of-{count:05d}.safetensors",
            min(shard, total - i * shard),
        )
        for i in range(count)
    ]
    return [
        _file(revision, "config.json", 880),
        _file(revision, "generation_config.json", 180),
        *shards,
        _file(revision, "tokenizer.json", 9_085_657),
        _file(revision, "tokenizer_config.json", 55_351),
    ]


def _revision(revision: str, at: datetime) -> dict[str, Any]:
    return {
        "revisionId": revision,
        "createdAt": iso(at),
        "validationStatus": "REVISION_VALIDATION_STATUS_SUCCESS",
        "lastValidatedAt": iso(at),
        "validationErrors": [],
    }


def _base_fields(base: Supported | None) -> dict[str, Any]:
    if base is None:
        return {}
    base_id = model_id_of(base.name)
    return {"baseModelId": base_id, "baseModel": model_path(PUBLIC_PROJECT, base_id)}


def owner(tenant: str) -> dict[str, Any]:
    return {"projectId": project_id(tenant), "organizationId": organization_id(tenant)}


def _fine_tunes(resources: Resources, tenant: str) -> list[Held]:
    held = []
    for job in resources.jobs.jobs(tenant):
        if job.status is not JobStatus.completed:
            continue
        base = catalogue_supported.get(job.model)
        lora = str(job.training_type.get("type", "")).lower() == "lora"
        weights_type = ADAPTER if lora else FULL
        body = {
            "id": model_id_of(job.model_output_name),
            **owner(tenant),
            "name": job.model_output_name,
            "description": f"Fine-tuned from {job.model} by {job.id}",
            "weights": weights_of(base, weights_type) if base else {"type": weights_type},
            **_base_fields(base),
            "visibility": "VISIBILITY_PRIVATE",
        }
        revision = fine_tune_revision_id(job.id)
        rank = int(job.training_type.get("lora_r") or 0)
        held.append(
            Held(
                body,
                "fine_tune",
                job.updated_at,
                [_revision(revision, job.updated_at)],
                {revision: _files_for(revision, weights_type, base, rank)},
            )
        )
    return held


def _uploads(resources: Resources, tenant: str) -> list[Held]:
    """``POST /v1/models`` uploads whose job is complete (records of ``model_uploads.py``)."""
    held = []
    for record in resources.list(UPLOAD_JOBS, tenant):
        if record.progress is None or resources.status(record) != "Complete":
            continue
        done = entered_at(record.progress, "Complete")
        assert done is not None
        name = str(record.private["model_name"])
        weights_type = ADAPTER if record.private.get("model_type") == "adapter" else FULL
        body = {
            "id": model_id_of(name),
            **owner(tenant),
            "name": name,
            "description": str(record.body.get("args", {}).get("description") or "Uploaded"),
            "weights": {"type": weights_type},
            "visibility": "VISIBILITY_PRIVATE",
        }
        revision = revision_id_of("upload", record.id)
        held.append(
            Held(
                body,
                "upload",
                done,
                [_revision(revision, done)],
                {revision: _files_for(revision, weights_type, None, 64)},
            )
        )
    return held


def registered(resources: Resources, record: Record) -> Held:
    """A registered model, with a revision for each remote upload into it that succeeded."""
    body = resources.render(PROJECT_MODELS, record)
    base = supported_by_id(str(body.get("baseModelId", "")))
    weights_type = str(body["weights"].get("type", FULL))
    revisions: list[dict[str, Any]] = []
    files: dict[str, list[dict[str, Any]]] = {}
    uploads = resources.list(REMOTE_UPLOADS, record.tenant)
    for upload in reversed(uploads):
        if upload.body.get("modelId") != record.id or upload.progress is None:
            continue
        if resources.status(upload) != "REMOTE_UPLOAD_STATUS_SUCCEEDED":
            continue
        done = entered_at(upload.progress, "REMOTE_UPLOAD_STATUS_SUCCEEDED")
        assert done is not None
        revision = revision_id_of("remote-upload", upload.id)
        revisions.append(_revision(revision, done))
        files[revision] = _files_for(revision, weights_type, base, 64)
    if revisions and base is not None:
        body["weights"] = weights_of(base, weights_type)
    return Held(body, "registered", record.created_at, revisions, files, record)


def held_models(resources: Resources, tenant: str) -> list[Held]:
    """Every model of the tenant's project, newest first, with the changes made to them."""
    records = resources.list(PROJECT_MODELS, tenant)
    changes = {r.id: r for r in records if r.private.get("derived")}
    held = [registered(resources, r) for r in records if not r.private.get("derived")]
    for derived in (*_fine_tunes(resources, tenant), *_uploads(resources, tenant)):
        change = changes.get(derived.body["id"])
        if change is None:
            held.append(derived)
        elif not change.private.get("deleted"):
            body = {**derived.body, **change.body}
            held.append(dataclasses.replace(derived, body=body, record=change))
    # Records made at one instant (the manual clock) keep their order of creation.
    return sorted(held, key=lambda h: (h.created, h.record.seq if h.record else 0), reverse=True)


def find_model(resources: Resources, tenant: str, model_id: str) -> dict[str, Any] | None:
    """The ``DE.Model`` with this id among the tenant's project's and the public catalogue's,
    or None: what a deployment of ``projects/<project>/models/<id>`` serves (its ``name`` is
    the model name chat answers on)."""
    entry = supported_by_id(model_id)
    if entry is not None:
        return public_model(entry)
    found = held_model(resources, tenant, model_id)
    return found.body if found else None


def held_model(resources: Resources, tenant: str, model_id: str) -> Held | None:
    return next((h for h in held_models(resources, tenant) if h.body["id"] == model_id), None)
