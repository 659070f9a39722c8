"""Model uploads (``POST /models``) and the jobs that carry them out (``/jobs``).

An upload names a model and where its weights are (a Hugging Face repo ``owner/name``, or an S3 or
HTTPS URL); nothing is fetched. It creates a ``model_upload`` job that walks ``Queued`` (10 s at
the service's pace) and ``Running`` (120 s) to ``Complete``, with a ``status_updates`` entry for
each; from then on ``GET /models`` lists the model as ``<account>/<model_name>``, beside the
catalogue and the tenant's completed fine-tunes. A name already taken by an upload or a
fine-tune output is a 409 naming ``model_name``: the request is valid, the state conflicts.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mock_server.core.errors import Conflict, InvalidRequest, NotFound
from mock_server.core.lifecycle import Lifecycle, entered_at, status_at, walked
from mock_server.core.timefmt import iso, unix
from mock_server.families.base import Call, Operation, envelope
from mock_server.families.engine import Family, Record, Resources, prefixed

if TYPE_CHECKING:
    from mock_server.store import Store

__all__ = ["OPERATIONS", "UPLOAD_JOBS", "uploaded_models"]

_HF_REPO = re.compile(r"[\w.-]+/[\w.-]+")


def _view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    assert record.progress is not None
    history = walked(record.progress, resources.now())
    body["status_updates"] = [
        {"status": state, "message": f"Job is {state}", "timestamp": iso(moment)}
        for state, moment in history
    ]
    body["updated_at"] = iso(history[-1][1])
    return body


UPLOAD_JOBS = Family(
    kind="upload_job",
    schema="GET /jobs/{jobId}",
    new_id=prefixed("job"),
    id_field="job_id",
    lifecycle=Lifecycle(steps=(("Queued", 10.0), ("Running", 120.0)), rest="Complete"),
    view=_view,
    name="Job",
)


def _source_kind(source: str) -> str:
    if source.startswith(("https://huggingface.co/", "hf://")) or _HF_REPO.fullmatch(source):
        return "huggingface"
    if source.startswith(("s3://", "https://", "http://")):
        return "s3"
    raise InvalidRequest(
        f"model_source {source!r} is neither a Hugging Face repo (owner/name) nor an S3 or "
        "HTTPS URL",
        param="model_source",
    )


def _taken(resources: Resources, tenant: str, name: str) -> bool:
    uploads = resources.list(UPLOAD_JOBS, tenant)
    if any(r.private["model_name"] == name for r in uploads):
        return True
    try:
        resources.store.find_job_by_output_name(tenant, name)
    except NotFound:
        return False
    return True


def upload_model(resources: Resources, call: Call) -> Any:
    request = call.json()
    source = request["model_source"]
    kind = _source_kind(source)
    name = f"{resources.account}/{request['model_name']}"
    if _taken(resources, call.tenant, name):
        raise Conflict(f"A model named {name} already exists", param="model_name")
    args = {"modelName": name, "modelSource": source}
    if request.get("description"):
        args["description"] = request["description"]
    model_id = f"model-{resources.ids.uuid()}"
    record = resources.create(
        UPLOAD_JOBS,
        call.tenant,
        fields={"type": "model_upload", "args": args},
        private={
            "model_name": name,
            "model_id": model_id,
            "model_type": request.get("model_type", "model"),
        },
    )
    return {
        "data": {
            "job_id": record.id,
            "model_name": name,
            "model_id": model_id,
            "model_source": kind,
        },
        "message": "Processing model weights. Job created.",
    }


def get_job(resources: Resources, call: Call) -> Any:
    record = resources.get(UPLOAD_JOBS, call.tenant, call.path["jobId"], param="jobId")
    return resources.render(UPLOAD_JOBS, record)


def list_jobs(resources: Resources, call: Call) -> Any:
    records = reversed(resources.list(UPLOAD_JOBS, call.tenant))
    return envelope(resources, "GET /jobs", [resources.render(UPLOAD_JOBS, r) for r in records])


def uploaded_models(store: Store, now: datetime, tenant: str) -> list[dict[str, Any]]:
    """The tenant's uploads whose job is complete, as ``GET /models`` lists a model."""
    models = []
    for doc in store.list_resources(UPLOAD_JOBS.kind, tenant):
        record = Record.from_json(doc)
        assert record.progress is not None
        if status_at(record.progress, now) != "Complete":
            continue
        name: str = record.private["model_name"]
        done = entered_at(record.progress, "Complete")
        assert done is not None
        models.append(
            {
                "id": name,
                "object": "model",
                "created": unix(done),
                "type": "chat",
                "display_name": name.rsplit("/", 1)[-1],
                "organization": name.split("/", 1)[0],
            }
        )
    return models


OPERATIONS = [
    Operation("POST /models", upload_model),
    Operation("GET /jobs", list_jobs),
    Operation("GET /jobs/{jobId}", get_job),
]
