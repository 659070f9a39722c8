"""The two kinds of record behind ``/deployments``, declared together because a volume's view
reads the deployments: its ``mounted_by`` lists those that mount it. ``deployments.py`` and
``volumes.py`` both build on this module (a deployment checks the volumes it mounts, a volume
refuses deletion while mounted), so the imports run one way.

The rollout steps are here too, since they are the deployment's lifecycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mock_server.core.lifecycle import Lifecycle, Steps, entered_at
from mock_server.core.timefmt import iso
from mock_server.families.engine import Family, Record, Resources, prefixed

__all__ = [
    "DEPLOYMENTS",
    "RESCALE",
    "ROLLOUT",
    "VOLUMES",
    "mounting",
    "replicas",
    "when_ready",
]

ROLLOUT: Steps = (("Updating", 30.0),)
RESCALE: Steps = (("Scaling", 15.0),)


def when_ready(record: Record) -> datetime | None:
    return entered_at(record.progress, "Ready") if record.progress else None


def replicas(record: Record) -> list[str]:
    revision = record.private["revision"]
    return [
        f"{record.body['name']}-r{revision}-{i}" for i in range(record.body["desired_replicas"])
    ]


def _deployment_view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    ready = body["status"] == "Ready"
    body["ready_replicas"] = body["desired_replicas"] if ready else record.private["serving"]
    ready_at = when_ready(record)
    body["replica_events"] = {
        replica: {
            "image": body["image"],
            "revision_id": f"rev-{record.private['revision']}",
            "replica_status": "Running" if ready else "Waiting",
            "replica_status_reason": "Ready" if ready else "ContainerCreating",
            "replica_status_message": "together-sim: simulated replica, no container runs",
            **({"replica_ready_since": iso(ready_at)} if ready and ready_at else {}),
        }
        for replica in replicas(record)
    }
    return body


def _volume_view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    body["mounted_by"] = mounting(resources, record)
    return body


DEPLOYMENTS = Family(
    kind="deployment",
    schema="GET /deployments/{id}",
    new_id=prefixed("dep"),
    name_field="name",
    lifecycle=Lifecycle(steps=ROLLOUT, rest="Ready"),
    view=_deployment_view,
)

VOLUMES = Family(
    kind="deployment_volume",
    schema="GET /deployments/storage/volumes/{id}",
    new_id=prefixed("vol"),
    name_field="name",
    view=_volume_view,
)


def mounting(resources: Resources, volume: Record, version: int | None = None) -> list[str]:
    """The ids of the deployments that mount ``volume`` at ``version`` (default: its latest)."""
    version = version or volume.body["current_version"]
    names = {volume.id, volume.body["name"]}
    return [
        record.id
        for record in resources.list(DEPLOYMENTS, volume.tenant)
        if any(
            m["name"] in names and m["version"] == version for m in record.body.get("volumes", ())
        )
    ]
