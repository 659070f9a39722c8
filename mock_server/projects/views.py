"""What a project endpoint answers, pure: where its traffic split sends a request (each routed
deployment "in proportion to" ``weight * readyReplicas``), and the spec's ``DE.Endpoint``,
``DE.Deployment`` and ``DE.DeploymentSummary`` bodies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from mock_server.core.errors import InvalidRequest
from mock_server.core.timefmt import iso
from mock_server.projects.models import Deployment, DeploymentState, ProjectEndpoint, etag_of
from mock_server.projects.requests import Autoscaling
from mock_server.projects.walk import ready_replicas, state_at

__all__ = [
    "not_running",
    "pick",
    "render_deployment",
    "render_endpoint",
    "shares_of",
    "traffic_shares",
]

_MESSAGES: Final[Mapping[DeploymentState, str]] = {
    DeploymentState.PROVISIONING: "Provisioning replicas",
    DeploymentState.READY: "Deployment is ready",
    DeploymentState.SCALING: "Scaling replicas",
    DeploymentState.STOPPING: "Stopping replicas",
    DeploymentState.STOPPED: "Deployment is stopped",
}


def _capacities(
    endpoint: ProjectEndpoint, deployments: Mapping[str, Deployment], now: datetime
) -> dict[str, float]:
    """Each routed deployment's effective capacity: "``weight * readyReplicas``", with the
    weights divided by the largest first. The shares are the same (only proportions count), but
    a finite weight as large as ``1e308`` times two replicas would overflow to ``inf``, and
    ``inf / inf`` is a NaN the spec's ``number`` cannot carry."""
    routed = [e for e in endpoint.traffic_split if e.deployment_id in deployments]
    largest = max((e.weight for e in routed), default=0.0)
    return {
        entry.deployment_id: (entry.weight / largest if largest > 0 else 0.0)
        * ready_replicas(deployments[entry.deployment_id], now)
        for entry in routed
    }


def traffic_shares(
    endpoint: ProjectEndpoint, deployments: Mapping[str, Deployment], now: datetime
) -> dict[str, float]:
    """``estimatedEffectiveTrafficShare``: each deployment's part of the endpoint's capacity."""
    capacities = _capacities(endpoint, deployments, now)
    total = sum(capacities.values())
    return {d: (capacities.get(d, 0.0) / total if total else 0.0) for d in deployments}


def pick(
    endpoint: ProjectEndpoint, deployments: Mapping[str, Deployment], now: datetime, draw: float
) -> Deployment | None:
    """The deployment a request to the endpoint's name goes to, "in proportion to that
    capacity" (``draw`` in [0, 1) chooses); None if no routed deployment has a ready replica."""
    capacities = [(d, c) for d, c in _capacities(endpoint, deployments, now).items() if c > 0]
    total = sum(c for _, c in capacities)
    if not total:
        return None
    point = draw * total
    for deployment_id, capacity in capacities:
        if point < capacity:
            return deployments[deployment_id]
        point -= capacity
    return deployments[capacities[-1][0]]


# -- rendering --


def _autoscaling(autoscaling: Autoscaling) -> dict[str, Any]:
    return autoscaling.model_dump(by_alias=True, exclude_none=True)


def _deployment_name(slug: str, endpoint: ProjectEndpoint, deployment: Deployment) -> str:
    return f"{slug}/{endpoint.name}/{deployment.name}"


def render_deployment(
    deployment: Deployment, endpoint: ProjectEndpoint, slug: str, share: float, now: datetime
) -> dict[str, Any]:
    """The spec's ``DE.Deployment`` (and SDK 3.1.1's ``EndpointDeployment``)."""
    state = state_at(deployment, now)
    ready = ready_replicas(deployment, now)
    running = state not in (DeploymentState.STOPPED, DeploymentState.STOPPING)
    desired = (deployment.autoscaling.min_replicas or 1) if running else 0
    body: dict[str, Any] = {
        "id": deployment.id,
        "projectId": deployment.project_id,
        "endpointId": deployment.endpoint_id,
        "name": _deployment_name(slug, endpoint, deployment),
        "createdAt": iso(deployment.created_at),
        "updatedAt": iso(deployment.updated_at),
        "modelId": deployment.model_id,
        "modelRevisionId": deployment.model_revision_id,
        "model": deployment.model,
        "autoscaling": _autoscaling(deployment.autoscaling),
        "configId": deployment.config_id,
        "config": deployment.config,
        "etag": etag_of(deployment.id, deployment.version),
        "hardware": deployment.hardware,
        "trafficMode": "TRAFFIC_MODE_LIVE",
        "enableLora": deployment.enable_lora,
        "desiredReplicas": desired,
        "estimatedEffectiveTrafficShare": share,
        "status": {
            "state": state.value,
            "message": _MESSAGES.get(state, state.value),
            "readyReplicas": ready,
            "scheduledReplicas": desired,
        },
    }
    if deployment.placement is not None:
        body["placement"] = deployment.placement
    if deployment.inactive_timeout is not None:
        body["inactiveTimeout"] = deployment.inactive_timeout
    if deployment.max_concurrent_requests_per_replica is not None:
        body["maxConcurrentRequestsPerReplica"] = deployment.max_concurrent_requests_per_replica
    return body


def _summary(
    deployment: Deployment, endpoint: ProjectEndpoint, slug: str, share: float, now: datetime
) -> dict[str, Any]:
    """The spec's ``DE.DeploymentSummary``, as an endpoint embeds each of its deployments."""
    full = render_deployment(deployment, endpoint, slug, share, now)
    return {
        "id": full["id"],
        "modelId": full["modelId"],
        "hardware": full["hardware"],
        "trafficMode": full["trafficMode"],
        "state": full["status"]["state"],
        "name": full["name"],
        "createdAt": full["createdAt"],
        "autoscaling": full["autoscaling"],
        "desiredReplicas": full["desiredReplicas"],
        "readyReplicas": full["status"]["readyReplicas"],
        "model": full["model"],
        "estimatedEffectiveTrafficShare": share,
    }


def render_endpoint(
    endpoint: ProjectEndpoint, deployments: Sequence[Deployment], slug: str, now: datetime
) -> dict[str, Any]:
    """The spec's ``DE.Endpoint``, with a summary of each deployment, oldest first."""
    by_id = {d.id: d for d in deployments}
    shares = traffic_shares(endpoint, by_id, now)
    return {
        "id": endpoint.id,
        "projectId": endpoint.project_id,
        "name": f"{slug}/{endpoint.name}",
        "createdAt": iso(endpoint.created_at),
        "updatedAt": iso(endpoint.updated_at),
        "etag": etag_of(endpoint.id, endpoint.version),
        "trafficSplit": [
            {"deploymentId": e.deployment_id, "weight": e.weight} for e in endpoint.traffic_split
        ],
        "visibility": endpoint.visibility,
        "endpointType": "ENDPOINT_TYPE_DEDICATED",
        "deployments": [_summary(d, endpoint, slug, shares[d.id], now) for d in deployments],
    }


def shares_of(
    endpoint: ProjectEndpoint, deployments: Sequence[Deployment], now: datetime
) -> dict[str, float]:
    return traffic_shares(endpoint, {d.id: d for d in deployments}, now)


def not_running(name: str) -> InvalidRequest:
    """The service's 400 for a completion on a dedicated endpoint that cannot answer now (the
    v1 endpoints' code): here, no deployment in the traffic split has a ready replica."""
    return InvalidRequest(
        f"The dedicated endpoint for {name} is not running: no deployment in its traffic split "
        "is ready. Add a deployment, wait until it is ready, and give it a weight in the "
        "endpoint's trafficSplit.",
        param="model",
        code="dedicated_endpoint_not_running",
    )
