"""Remote uploads (``/v2/projects/{projectId}/models/uploads``): importing a registered model's
files from a Hugging Face repository or a presigned archive URL, as SDK 3.1.1's
``client.models.remote_uploads`` and ``tg models remote-uploads`` drive it.

Nothing is fetched. An upload names one of the project's registered models (a fine-tune's output
or a ``/v1/models`` upload has its files already: a 400 naming ``modelId``) and walks pending
(10 s at the service's pace) and running (120 s) to succeeded (``model.REMOTE_UPLOADS``); from
then on the model has a revision holding the files (``held.py``). Its events tell the walk:
queued, download started, download complete and the revision made. A ``token`` is accepted
and dropped, never stored: nothing is fetched with it. ``remoteUrl`` must be a Hugging Face
repository (``https://huggingface.co/owner/name``, ``hf://owner/name`` or ``owner/name``) or an
``https://`` or ``s3://`` URL.
"""

from __future__ import annotations

import re
from typing import Any

from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.lifecycle import walked
from mock_server.core.tenancy import project_id
from mock_server.core.timefmt import iso
from mock_server.families.base import Call
from mock_server.families.engine import Record, Resources
from mock_server.families.project_models.held import held_model
from mock_server.families.project_models.model import (
    REMOTE_UPLOADS,
    own_project,
    page,
    revision_id_of,
    v2,
)

__all__ = ["OPERATIONS"]

MAX_RESTARTS = 3  # estimated
_HF_REPO = re.compile(r"(?:https://huggingface\.co/|hf://)?[\w.-]+/[\w.-]+/?")

# Each state's message, and the events entering it sends (type, message).
_MESSAGES = {
    "REMOTE_UPLOAD_STATUS_PENDING": "Waiting for an import worker",
    "REMOTE_UPLOAD_STATUS_RUNNING": "Downloading files from {url}",
    "REMOTE_UPLOAD_STATUS_SUCCEEDED": "Imported as revision {revision}",
}
_EVENTS = {
    "REMOTE_UPLOAD_STATUS_PENDING": (("upload.queued", "Import of {url} queued"),),
    "REMOTE_UPLOAD_STATUS_RUNNING": (("download.started", "Downloading files from {url}"),),
    "REMOTE_UPLOAD_STATUS_SUCCEEDED": (
        ("download.completed", "Downloaded every file of {url} (simulated: nothing was fetched)"),
        ("revision.created", "Created revision {revision} of model {model}"),
    ),
}


def _facts(record: Record) -> dict[str, str]:
    return {
        "url": str(record.body["remoteUrl"]),
        "model": str(record.body["modelId"]),
        "revision": revision_id_of("remote-upload", record.id),
    }


def _view(resources: Resources, record: Record) -> dict[str, Any]:
    assert record.progress is not None
    body = resources.render(REMOTE_UPLOADS, record)
    history = walked(record.progress, resources.now())
    body["statusMessage"] = _MESSAGES[body["status"]].format(**_facts(record))
    body["updatedAt"] = iso(history[-1][1])
    return body


def _check_url(url: str) -> None:
    if _HF_REPO.fullmatch(url) or url.startswith(("https://", "s3://")):
        return
    raise InvalidRequest(
        f"remoteUrl {url!r} is neither a Hugging Face repository (owner/name) nor an https:// "
        "or s3:// URL",
        param="remoteUrl",
    )


def create_remote_upload(resources: Resources, call: Call) -> Any:
    own_project(call)
    request = call.json()
    model_id = str(request["modelId"])
    model = held_model(resources, call.tenant, model_id)
    if model is None:
        raise NotFound("model", model_id, message=f"Model {model_id} not found", param="modelId")
    if model.source != "registered":
        raise InvalidRequest(
            f"Model {model_id} is a {model.source.replace('_', '-')} output, not a registered "
            "model: its files come with it",
            param="modelId",
        )
    _check_url(str(request["remoteUrl"]))
    record = resources.create(
        REMOTE_UPLOADS,
        call.tenant,
        fields={
            "projectId": project_id(call.tenant),
            "modelId": model_id,
            "remoteUrl": request["remoteUrl"],
            "restartCount": 0,
            "maxRestarts": MAX_RESTARTS,
            "createdAt": iso(resources.now()),
        },
    )  # no ``token`` kept: nothing is fetched, so a credential would only sit in the store
    return _view(resources, record)


def _get(resources: Resources, call: Call) -> Record:
    own_project(call)
    return resources.get(REMOTE_UPLOADS, call.tenant, call.path["id"], param="id")


def get_remote_upload(resources: Resources, call: Call) -> Any:
    return _view(resources, _get(resources, call))


def list_remote_uploads(resources: Resources, call: Call) -> Any:
    own_project(call)
    records = reversed(resources.list(REMOTE_UPLOADS, call.tenant))
    return page(call, [_view(resources, r) for r in records])


def list_remote_upload_events(resources: Resources, call: Call) -> Any:
    record = _get(resources, call)
    assert record.progress is not None
    facts = _facts(record)
    events: list[dict[str, Any]] = []
    for state, moment in walked(record.progress, resources.now()):
        for kind, message in _EVENTS[state]:
            events.append(
                {
                    "id": f"{record.id}-{len(events) + 1}",
                    "createdAt": iso(moment),
                    "level": "LEVEL_INFO",
                    "type": kind,
                    "message": message.format(**facts),
                }
            )
    return page(call, events)


OPERATIONS = [
    v2("GET /projects/{projectId}/models/uploads", list_remote_uploads),
    v2("POST /projects/{projectId}/models/uploads", create_remote_upload),
    v2("GET /projects/{projectId}/models/uploads/{id}", get_remote_upload),
    v2("GET /projects/{projectId}/models/uploads/{id}/events", list_remote_upload_events),
]
