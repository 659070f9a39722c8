"""GPU clusters (``/compute/clusters``): Instant Clusters, Kubernetes or Slurm, and their nodes.

A new cluster walks ``WaitingForControlPlaneNodes`` (60 s at the service's pace),
``WaitingForDataPlaneNodes`` (120 s), ``WaitingForSharedVolume`` (30 s, with a volume),
``InstallingDrivers`` (60 s) and ``RunningAcceptanceTests`` (60 s) to ``Ready``; its nodes come up
as it goes (three control-plane nodes, one GPU worker per 8 GPUs) and its ``kube_config`` appears
when it is ready, marked as the simulator's. Resizing (``PUT`` with ``num_gpus``) walks the new
workers through ``WaitingForDataPlaneNodes`` and ``InstallingDrivers`` again. A cluster may bring
a shared volume: an existing one (``volume_id``, same region, not in use) or one made with it
(``shared_volume``); the volume is ``bound`` while the cluster lives.

Checks, as 400s naming the field: the region, a GPU type it offers, ``num_gpus`` a positive
multiple of 8, a CUDA / driver pair it offers, ``duration_days`` for RESERVED billing, both
reservation times for SCHEDULED_CAPACITY, ``auto_scale_max_gpus`` with ``auto_scaled``,
``slurm_shm_size_gib`` for Slurm.
"""

from __future__ import annotations

from typing import Any

from mock_server.core.errors import InvalidRequest
from mock_server.core.lifecycle import begin
from mock_server.families.base import Call, Operation, standard
from mock_server.families.clusters.model import (
    CLUSTERS,
    CONTROL,
    DATA,
    FINISH,
    GPUS_PER_NODE,
    MAX_GPUS,
    RESIZE,
    SHARED_VOLUMES,
    VOLUME,
    attached,
)
from mock_server.families.clusters.shared_volumes import create_shared_volume
from mock_server.families.engine import Resources
from mock_server.families.regions import Region, check_region, version_id

__all__ = ["OPERATIONS"]


def _check_gpus(num_gpus: int) -> None:
    if num_gpus <= 0 or num_gpus % GPUS_PER_NODE or num_gpus > MAX_GPUS:
        raise InvalidRequest(
            f"num_gpus must be a multiple of 8 from 8 to {MAX_GPUS} (got {num_gpus})",
            param="num_gpus",
        )


def _check_drivers(request: dict[str, Any], region: Region) -> None:
    """The CUDA / driver pair, or (the August spec) its catalog id ``nvidia_version_id``: if
    both are given they must be the same entry."""
    named = request.get("nvidia_version_id")
    if named is not None:
        pairs = {version_id(*pair): pair for pair in region.drivers}
        if named not in pairs:
            raise InvalidRequest(
                f"{named} is not offered in {request['region']}: it offers {', '.join(pairs)}",
                param="nvidia_version_id",
            )
        given = request.get("cuda_version"), request.get("nvidia_driver_version")
        if given != (None, None) and given != pairs[named]:
            raise InvalidRequest(
                f"{named} is not CUDA {given[0]} with driver {given[1]}",
                param="nvidia_version_id",
            )
        return
    pair = (request["cuda_version"], request["nvidia_driver_version"])
    if pair not in region.drivers:
        offered = ", ".join(f"CUDA {c} with driver {d}" for c, d in region.drivers)
        raise InvalidRequest(
            f"CUDA {pair[0]} with driver {pair[1]} is not offered in {request['region']}: "
            f"it offers {offered}",
            param="nvidia_driver_version",
        )


def _checked(request: dict[str, Any]) -> None:
    region = check_region(request["region"])
    if request["gpu_type"] not in region.gpu_types:
        raise InvalidRequest(
            f"{request['gpu_type']} is not offered in {request['region']}: it offers "
            f"{', '.join(region.gpu_types)}",
            param="gpu_type",
        )
    _check_gpus(request["num_gpus"])
    _check_drivers(request, region)
    billing = request["billing_type"]
    if billing == "RESERVED" and not request.get("duration_days"):
        raise InvalidRequest("RESERVED billing needs duration_days", param="duration_days")
    if billing == "SCHEDULED_CAPACITY":
        for name in ("reservation_start_time", "reservation_end_time"):
            if not request.get(name):
                raise InvalidRequest(f"SCHEDULED_CAPACITY billing needs {name}", param=name)
    if request.get("auto_scaled") and request.get("auto_scale_max_gpus", 0) < request["num_gpus"]:
        raise InvalidRequest(
            "auto_scaled needs auto_scale_max_gpus, at least num_gpus", param="auto_scale_max_gpus"
        )
    if request.get("cluster_type") == "SLURM" and not request.get("slurm_shm_size_gib"):
        raise InvalidRequest("A Slurm cluster needs slurm_shm_size_gib", param="slurm_shm_size_gib")


def _volume(resources: Resources, tenant: str, request: dict[str, Any]) -> str | None:
    """The id of the shared volume the new cluster uses, made here if asked inline."""
    inline = request.get("shared_volume")
    if inline is not None:
        if inline["region"] != request["region"]:
            raise InvalidRequest(
                "The shared volume must be in the cluster's region", param="shared_volume.region"
            )
        return create_shared_volume(resources, tenant, inline, "shared_volume.").id
    volume_id = request.get("volume_id")
    if volume_id is None:
        return None
    volume = resources.get(SHARED_VOLUMES, tenant, volume_id, param="volume_id")
    if volume.private["region"] != request["region"]:
        raise InvalidRequest(
            f"Shared volume {volume_id} is in {volume.private['region']}, not {request['region']}",
            param="volume_id",
        )
    user = attached(resources, volume)
    if user is not None:
        raise InvalidRequest(f"Shared volume {volume_id} is used by {user.id}", param="volume_id")
    return volume.id


def create_cluster(resources: Resources, call: Call) -> Any:
    request = call.json()
    _checked(request)
    volume_id = _volume(resources, call.tenant, request)
    steps = (*CONTROL, *DATA, *(VOLUME if volume_id else ()), *FINISH)
    fields: dict[str, Any] = {"cluster_type": request.get("cluster_type", "KUBERNETES")}
    named = request.get("nvidia_version_id")
    if named is not None:  # the pair it stands for (checked above)
        region = check_region(request["region"])
        pair = next(p for p in region.drivers if version_id(*p) == named)
        fields.update(cuda_version=pair[0], nvidia_driver_version=pair[1])
    if request.get("duration_days"):
        fields["duration_hours"] = request["duration_days"] * 24
    record = resources.create(
        CLUSTERS,
        call.tenant,
        request=request,
        fields=fields,
        private={"volume_ids": [volume_id] if volume_id else []},
        progress=begin(steps, "Ready", resources.now(), resources.speed),
    )
    return resources.render(CLUSTERS, record)


def update_cluster(resources: Resources, call: Call) -> Any:
    record = resources.get(CLUSTERS, call.tenant, call.path["cluster_id"], param="cluster_id")
    request = call.json()
    progress, private = None, None
    gpus = request.get("num_gpus", record.body["num_gpus"])
    if gpus != record.body["num_gpus"]:
        _check_gpus(gpus)
        body = resources.render(CLUSTERS, record)
        up = sum(node["status"] == "Ready" for node in body["gpu_worker_nodes"])
        private = {"workers_up": min(up, gpus // GPUS_PER_NODE)}
        progress = begin(RESIZE, "Ready", resources.now(), resources.speed)
    updated = resources.update(
        CLUSTERS, record, request=request, private=private, progress=progress
    )
    return resources.render(CLUSTERS, updated)


OPERATIONS = [
    Operation("POST /compute/clusters", create_cluster),
    Operation("PUT /compute/clusters/{cluster_id}", update_cluster),
    *standard(
        CLUSTERS,
        get="GET /compute/clusters/{cluster_id}",
        list_="GET /compute/clusters",
        delete="DELETE /compute/clusters/{cluster_id}",
    ),
]
