"""Deployment volumes (``/deployments/storage/volumes``) and storage downloads.

A volume preloads files uploaded with the Files API into deployments: its ``content`` names a
``source_prefix``, and the files are the tenant's uploads whose names start with it, listed when
the version is made (name, size, upload time). Changing the content makes a new version; the old
one goes to ``version_history`` under its number. ``mounted_by`` lists the deployments that mount
the volume now, and a mounted volume cannot be deleted (400).

``GET /deployments/storage/{filename}`` answers the spec's 307 to a signed URL on this server,
where the uploaded file's bytes are; ``filename`` is an uploaded file's name or id.
"""

from __future__ import annotations

from typing import Any

from mock_server.core.errors import Conflict, InvalidRequest, NotFound
from mock_server.core.timefmt import iso
from mock_server.families.base import Answer, Call, Operation, standard
from mock_server.families.deployments.model import VOLUMES, mounting
from mock_server.families.engine import Resources
from mock_server.files.downloads import Download, signed_url

__all__ = ["DOWNLOADS", "OPERATIONS", "file_download"]


def _content(resources: Resources, tenant: str, wanted: dict[str, Any]) -> dict[str, Any]:
    prefix = str(wanted.get("source_prefix", ""))
    files = [
        {"name": f.filename, "size": f.bytes, "last_modified": iso(f.created_at)}
        for f in resources.files.files(tenant)
        if f.filename.startswith(prefix)
    ]
    return {"type": wanted.get("type", "files"), "source_prefix": prefix, "files": files}


def _check_name_free(resources: Resources, tenant: str, name: str, own_id: str = "") -> None:
    clash = resources.find(VOLUMES, tenant, name)
    if clash is not None and clash.id != own_id:
        raise Conflict(f"A volume named {name} already exists", param="name")


def create_volume(resources: Resources, call: Call) -> Any:
    request = call.json()
    _check_name_free(resources, call.tenant, request["name"])
    fields = {
        "content": _content(resources, call.tenant, request["content"]),
        "current_version": 1,
        "version_history": {},
        "mounted_by": [],
        "object": "volume",
    }
    record = resources.create(VOLUMES, call.tenant, request=request, fields=fields)
    return resources.render(VOLUMES, record)


def update_volume(resources: Resources, call: Call) -> Any:
    record = resources.get(VOLUMES, call.tenant, call.path["id"], param="id")
    request = call.json()
    if "name" in request:
        _check_name_free(resources, call.tenant, request["name"], record.id)
    fields: dict[str, Any] = {}
    if "content" in request:  # new content, new version; the old one goes to the history
        old = record.body["current_version"]
        previous = record.body["content"]
        history = dict(record.body.get("version_history", {}))
        history[str(old)] = {
            "version": old,
            "content": {"type": previous["type"], "source_prefix": previous["source_prefix"]},
            "mounted_by": mounting(resources, record, old),
        }
        fields = {
            "content": _content(resources, call.tenant, request["content"]),
            "current_version": old + 1,
            "version_history": history,
        }
    request = {k: v for k, v in request.items() if k != "content"}
    return resources.render(
        VOLUMES, resources.update(VOLUMES, record, request=request, fields=fields)
    )


def delete_volume(resources: Resources, call: Call) -> Any:
    record = resources.get(VOLUMES, call.tenant, call.path["id"], param="id")
    users = mounting(resources, record)
    if users:
        raise InvalidRequest(
            f"Volume {record.body['name']} is mounted by {', '.join(users)}: remove it from "
            "those deployments first",
            param="id",
        )
    resources.delete(VOLUMES, record)
    return {}


def download_file(resources: Resources, call: Call) -> Any:
    """The spec's 307: the body is the URL, as the Location header is."""
    filename = call.path["filename"]
    files = resources.files.files(call.tenant)
    found = next((f for f in reversed(files) if filename in (f.filename, f.id)), None)
    if found is None:
        raise NotFound("file", filename, message=f"File {filename} not found", param="filename")
    url = signed_url(resources.store, call.base_url, call.tenant, "file", found.id, found.filename)
    return Answer(url, 307, {"Location": url})


def file_download(resources: Resources, tenant: str, file_id: str, name: str) -> Download:
    record = resources.files.file(tenant, file_id)
    return Download(resources.blobs.path(record.id), "application/octet-stream")


OPERATIONS = [
    Operation("POST /deployments/storage/volumes", create_volume, "create_deployment_volume"),
    Operation("PATCH /deployments/storage/volumes/{id}", update_volume, "update_deployment_volume"),
    Operation(
        "DELETE /deployments/storage/volumes/{id}", delete_volume, "delete_deployment_volume"
    ),
    Operation("GET /deployments/storage/{filename}", download_file, "download_storage_file"),
    *standard(
        VOLUMES,
        get="GET /deployments/storage/volumes/{id}",
        list_="GET /deployments/storage/volumes",
    ),
]

DOWNLOADS = {"file": file_download}
