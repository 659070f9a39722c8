"""The two kinds of record behind ``/compute/clusters``, declared together because each one's view
reads the other: a cluster lists the shared volumes it uses, and a volume reads ``bound`` while a
cluster uses it. ``clusters.py`` and ``shared_volumes.py`` both build on this module, so the
imports run one way: neither of them imports the other's views.

The steps a cluster walks are here too, since its view derives from them which nodes are up, and
(the August spec's fields) the phase transitions of the cluster and of each node: each status it
has entered so far, as a ``CLUSTER_PHASE_*`` at the moment it was entered. Fields the served
schema has not got are left out.
"""

from __future__ import annotations

import re
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.lifecycle import Lifecycle, Steps, entered_at
from mock_server.core.timefmt import iso
from mock_server.families.engine import Family, Record, Resources, prefixed

__all__ = [
    "CLUSTERS",
    "CONTROL",
    "DATA",
    "FINISH",
    "GPUS_PER_NODE",
    "MAX_GPUS",
    "RESIZE",
    "SHARED_VOLUMES",
    "VOLUME",
    "attached",
    "render_attached",
]

CONTROL: Steps = (("WaitingForControlPlaneNodes", 60.0),)
DATA: Steps = (("WaitingForDataPlaneNodes", 120.0),)
VOLUME: Steps = (("WaitingForSharedVolume", 30.0),)
FINISH: Steps = (("InstallingDrivers", 60.0), ("RunningAcceptanceTests", 60.0))
RESIZE: Steps = (*DATA, ("InstallingDrivers", 60.0))
_CONTROL_UP = {
    "WaitingForDataPlaneNodes",
    "WaitingForSharedVolume",
    *(s for s, _ in FINISH),
    "Ready",
}
_WORKERS_UP = {"WaitingForSharedVolume", *(s for s, _ in FINISH), "Ready"}
_ORDER = [s for s, _ in (*CONTROL, *DATA, *VOLUME, *FINISH)] + ["Ready"]
GPUS_PER_NODE = 8
MAX_GPUS = 1024  # an estimate of an Instant Cluster's ceiling; every node is listed

_KUBE_CONFIG = """\
# together-sim: a simulated kubeconfig; no cluster answers at this address
apiVersion: v1
kind: Config
clusters:
- name: {name}
  cluster:
    server: https://{id}.clusters.together-sim.invalid
contexts:
- name: {name}
  context: {{cluster: {name}, user: {name}-admin}}
current-context: {name}
users:
- name: {name}-admin
  user: {{token: together-sim-not-a-real-token}}
"""


def _nodes(record: Record, status: str) -> dict[str, Any]:
    short = record.id[-8:]
    name = record.body["cluster_name"]
    control = "Ready" if status in _CONTROL_UP else "Provisioning"
    up_before = record.private.get("workers_up", 0)  # workers a resize left running
    control_plane = [
        {
            "node_id": f"cp-{short}-{i}",
            "node_name": f"{name}-control-{i}",
            "status": control,
            "host_name": f"{name}-control-{i}.together-sim.invalid",
            "num_cpu_cores": 8,
            "memory_gib": 32.0,
            "network": f"10.0.0.{10 + i}",
        }
        for i in range(3)
    ]
    workers = [
        {
            "node_id": f"gpu-{short}-{i}",
            "node_name": f"{name}-gpu-{i}",
            "status": "Ready" if status in _WORKERS_UP or i < up_before else "Provisioning",
            "host_name": f"{name}-gpu-{i}.together-sim.invalid",
            "num_cpu_cores": 192,
            "num_gpus": GPUS_PER_NODE,
            "memory_gib": 2048.0,
            "networks": [f"10.1.{i}.10"],
            "instance_id": f"i-{short}{i:04d}",
        }
        for i in range(record.body["num_gpus"] // GPUS_PER_NODE)
    ]
    return {"control_plane_nodes": control_plane, "gpu_worker_nodes": workers}


def _phase(status: str) -> str:
    """``WaitingForControlPlaneNodes`` -> ``CLUSTER_PHASE_WAITING_FOR_CONTROL_PLANE_NODES``."""
    return "CLUSTER_PHASE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", status).upper()


def _transitions(record: Record, status: str) -> list[dict[str, str]]:
    """Each status the cluster entered, oldest first, up to the one it is in."""
    if record.progress is None:
        return []
    moments = [(state, entered_at(record.progress, state)) for state in _ORDER]
    return [
        {"phase": _phase(state), "transition_time": iso(moment)}
        for state, moment in moments
        if moment is not None and _ORDER.index(state) <= _ORDER.index(status)
    ]


def _august_fields(record: Record, body: dict[str, Any], status: str) -> None:
    """What the August spec adds to a cluster and its nodes, where the served schema has it
    (the engine's skeleton put its placeholders there)."""
    if "phase_transitions" not in body:
        return
    body["phase_transitions"] = _transitions(record, status)
    node_phase = "NODE_PHASE_RUNNING" if status == "Ready" else "NODE_PHASE_BOOTING"
    since = [{"phase": node_phase, "transition_time": body["created_at"]}]
    for node in (*body["control_plane_nodes"], *body["gpu_worker_nodes"]):
        node["phase_transitions"] = since
    request = record.body
    reserved = request["num_gpus"] if request.get("billing_type") == "RESERVED" else 0
    body.update(
        add_ons=[],
        num_cpu_workers=0,
        num_reserved_gpus=reserved,
        num_capacity_pool_gpus=0,
        desired_preemptible_gpus=request.get("num_preemptible_gpus", 0),
        allocated_preemptible_gpus=request.get("num_preemptible_gpus", 0),
    )


def _cluster_view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    status = body["status"]
    body.update(_nodes(record, status))
    _august_fields(record, body, status)
    ready = status == "Ready"
    body["kube_config"] = (
        _KUBE_CONFIG.format(name=body["cluster_name"], id=record.id) if ready else ""
    )
    volumes = []
    for volume_id in record.private.get("volume_ids", ()):
        volume = render_attached(resources, record.tenant, volume_id)
        if volume is not None:
            volumes.append(volume)
    body["volumes"] = volumes
    return body


def _volume_view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    if body["status"] == "available" and attached(resources, record) is not None:
        body["status"] = "bound"
    return body


CLUSTERS = Family(
    kind="cluster",
    schema="GET /compute/clusters/{cluster_id}",
    new_id=prefixed("cluster"),
    id_field="cluster_id",
    view=_cluster_view,
)

SHARED_VOLUMES = Family(
    kind="shared_volume",
    schema="GET /compute/clusters/storage/volumes/{volume_id}",
    new_id=prefixed("sv"),
    id_field="volume_id",
    lifecycle=Lifecycle(steps=(("provisioning", 30.0),), rest="available"),
    view=_volume_view,
)


def attached(resources: Resources, volume: Record) -> Record | None:
    """The cluster that uses shared volume ``volume``, if any."""
    return next(
        (
            c
            for c in resources.list(CLUSTERS, volume.tenant)
            if volume.id in c.private.get("volume_ids", ())
        ),
        None,
    )


def render_attached(resources: Resources, tenant: str, volume_id: str) -> dict[str, Any] | None:
    """A volume as a cluster lists it (``GPUClusterVolume``), or None if it is gone."""
    try:
        record = resources.get(SHARED_VOLUMES, tenant, volume_id, param="volume_id")
    except NotFound:
        return None
    return resources.render(SHARED_VOLUMES, record)
