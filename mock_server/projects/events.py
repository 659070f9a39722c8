"""An endpoint's event log, pure: the spec's ``DE.EndpointEvent`` rows for what was written to
the endpoint and its deployments (``endpoint.created``, ``endpoint.updated`` with the field
paths, ``deployment.created``, ``deployment.updated``, ``deployment.scaled`` with the replica
counts, ``deployment.deleted``), and a ``condition.set`` row for each state a deployment's walk
entered, the ``Ready`` condition true once READY (reasons ``AllReplicasReady`` and
``ReplicasProgressing`` are the spec's examples; the others are the simulator's).

The writes' rows are stored when the write is made; a walk's rows are derived from the clock and
are the same rows (the same ids: a digest of deployment, state and moment) whether read while the
walk goes on or stored when a later write ends it, so the log keeps every state a deployment was
in. Newest first, as the spec says (a moment's rows in the order one causes the next);
``select`` applies the operation's filters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from mock_server.core.errors import InvalidRequest
from mock_server.core.timefmt import iso, parse_iso
from mock_server.projects.models import Deployment, DeploymentState

__all__ = ["LEVELS", "condition", "select", "written"]

LEVELS: Final = ("LEVEL_DEBUG", "LEVEL_INFO", "LEVEL_WARN", "LEVEL_ERROR")
_SOURCE = "together-sim"

_CONDITIONS: Final = {
    DeploymentState.PROVISIONING: ("False", "ReplicasProgressing", "Provisioning replicas"),
    DeploymentState.READY: ("True", "AllReplicasReady", "All replicas are ready"),
    DeploymentState.SCALING: ("True", "ReplicasProgressing", "Scaling replicas"),
    DeploymentState.STOPPING: ("False", "ReplicasStopping", "Stopping replicas"),
    DeploymentState.STOPPED: ("False", "Stopped", "Deployment is stopped"),
}


# Rows of one moment in the order one causes the next: a write, then the states it began.
_RANK: Final = {
    "endpoint.created": 0,
    "deployment.created": 1,
    "endpoint.updated": 2,
    "deployment.updated": 3,
    "deployment.scaled": 4,
    "condition.set": 5,
    "deployment.deleted": 6,
}


def _id(*parts: str) -> str:
    return "evt_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def written(
    type_: str,
    *,
    endpoint_id: str,
    at: datetime,
    message: str,
    unique: str,
    deployment_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A row for a write; ``unique`` tells two writes of one moment apart (the new version)."""
    row: dict[str, Any] = {
        "id": _id(endpoint_id, deployment_id or "", type_, iso(at), unique),
        "createdAt": iso(at),
        "level": "LEVEL_INFO",
        "type": type_,
        "message": message,
        "source": _SOURCE,
        "sourceKind": "SOURCE_KIND_DEPLOYMENT" if deployment_id else "SOURCE_KIND_ENDPOINT",
        "endpointId": endpoint_id,
    }
    if deployment_id:
        row["deploymentId"] = deployment_id
    row.update({key: value for key, value in fields.items() if value is not None})
    return row


def condition(deployment: Deployment, state: DeploymentState, at: datetime) -> dict[str, Any]:
    status, reason, message = _CONDITIONS.get(state, ("Unknown", state.value, state.value))
    return {
        **written(
            "condition.set",
            endpoint_id=deployment.endpoint_id,
            deployment_id=deployment.id,
            at=at,
            message=message,
            unique=state.value,
        ),
        "subjectId": "Ready",
        "status": status,
        "reason": reason,
    }


def _moment(value: str, param: str) -> datetime:
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise InvalidRequest(
            f"{param} must be an RFC 3339 time (got {value!r})", param=param
        ) from exc


def select(
    rows: Sequence[dict[str, Any]],
    *,
    types: Sequence[str] = (),
    min_level: str | None = None,
    since: str | None = None,
    until: str | None = None,
    deployment_ids: Sequence[str] = (),
    source_kinds: Sequence[str] = (),
    subject_id: str | None = None,
) -> list[dict[str, Any]]:
    """The rows the filters keep ("combined with other filters using AND"), newest first."""
    floor = LEVELS.index(min_level) if min_level in LEVELS else 0
    start = _moment(since, "since") if since else None
    end = _moment(until, "until") if until else None
    kept = []
    for row in rows:
        at = _moment(row["createdAt"], "createdAt")
        if (
            (types and row["type"] not in types)
            or LEVELS.index(row["level"]) < floor
            or (start is not None and at < start)
            or (end is not None and at >= end)  # "strictly before this time"
            or (deployment_ids and row.get("deploymentId") not in deployment_ids)
            or (source_kinds and row["sourceKind"] not in source_kinds)
            or (subject_id is not None and row.get("subjectId") != subject_id)
        ):
            continue
        kept.append(row)
    return sorted(
        kept, key=lambda r: (r["createdAt"], _RANK.get(r["type"], 5), r["id"]), reverse=True
    )
