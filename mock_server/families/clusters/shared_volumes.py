"""Shared volumes of GPU clusters (``/compute/clusters/storage/volumes``).

A volume is ``provisioning`` for 30 s at the service's pace, then ``available``; while a cluster
uses it, ``bound``. It lives in a region (one of ``GET /compute/regions``), and only grows: the
update is ``PUT`` on the collection with the ``volume_id`` in the body, as the spec has it (which
leaves it optional: an update without one names no volume, a 404 like an unknown id). A
bound volume cannot be deleted (the spec: "if this volume is attached to a cluster, deleting will
fail").
"""

from __future__ import annotations

from typing import Any

from mock_server.core.errors import Conflict, InvalidRequest, NotFound
from mock_server.families.base import Call, Operation, standard
from mock_server.families.clusters.model import SHARED_VOLUMES, attached
from mock_server.families.engine import Record, Resources
from mock_server.families.regions import check_region

__all__ = ["OPERATIONS", "create_shared_volume"]


def _check_size(size: int, param: str) -> None:
    if size < 1:
        raise InvalidRequest(f"{param} must be a whole number of TiB, 1 or more", param=param)


def create_shared_volume(
    resources: Resources, tenant: str, request: dict[str, Any], where: str = ""
) -> Record:
    """A new volume from a create request (``where`` prefixes the params it names: a cluster's
    inline ``shared_volume``)."""
    check_region(request["region"], where + "region")
    _check_size(request["size_tib"], where + "size_tib")
    return resources.create(
        SHARED_VOLUMES, tenant, request=request, private={"region": request["region"]}
    )


def create_volume(resources: Resources, call: Call) -> Any:
    record = create_shared_volume(resources, call.tenant, call.json())
    return resources.render(SHARED_VOLUMES, record)


def update_volume(resources: Resources, call: Call) -> Any:
    request = call.json()
    volume_id = request.get("volume_id", "")
    if not volume_id:  # optional in the spec, and nothing else names the volume
        raise NotFound(
            "shared volume",
            volume_id,
            message="No shared volume to update: the request names none (volume_id)",
            param="volume_id",
        )
    record = resources.get(SHARED_VOLUMES, call.tenant, volume_id, param="volume_id")
    size = request.get("size_tib", record.body["size_tib"])
    if size < record.body["size_tib"]:
        raise InvalidRequest(
            f"A shared volume only grows: it has {record.body['size_tib']} TiB", param="size_tib"
        )
    updated = resources.update(SHARED_VOLUMES, record, fields={"size_tib": size})
    return resources.render(SHARED_VOLUMES, updated)


def delete_volume(resources: Resources, call: Call) -> Any:
    volume_id = call.path["volume_id"]
    record = resources.get(SHARED_VOLUMES, call.tenant, volume_id, param="volume_id")
    if attached(resources, record) is not None:  # a valid request the volume's state refuses
        raise Conflict(
            f"Shared volume {volume_id} is attached to a cluster: delete the cluster first",
            param="volume_id",
        )
    resources.delete(SHARED_VOLUMES, record)
    return {"success": True}


OPERATIONS = [
    Operation("POST /compute/clusters/storage/volumes", create_volume, "create_shared_volume"),
    Operation("PUT /compute/clusters/storage/volumes", update_volume, "update_shared_volume"),
    Operation(
        "DELETE /compute/clusters/storage/volumes/{volume_id}",
        delete_volume,
        "delete_shared_volume",
    ),
    *standard(
        SHARED_VOLUMES,
        get="GET /compute/clusters/storage/volumes/{volume_id}",
        list_="GET /compute/clusters/storage/volumes",
    ),
]
