"""A deployment's walk, pure: its states read off the clock by the one lifecycle engine
(``core/lifecycle.py``), and the moves a change of its replica bounds makes (the diagram is
``models.py``'s).

The record keeps when its walk began (``since``), the states with their seconds (``walk``,
scaled by the timeline's speed when the deployment was created) and where it rests (``rest``);
``inactiveTimeout`` makes a READY rest the engine's idle rest, which walks the stop once no
request came for that long. Nothing here reads a clock, touches the store or logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mock_server.core.errors import InvalidRequest
from mock_server.core.lifecycle import (
    Idle,
    Lifecycle,
    Move,
    Progress,
    apply,
    begin,
    settle,
    status_at,
    walked,
)
from mock_server.projects.models import (
    Deployment,
    DeploymentState,
    bare_name,
    bumped,
    check_etag,
    check_timeout,
    resolve_autoscaling,
)
from mock_server.projects.requests import (
    Autoscaling,
    CreateDeploymentRequest,
    UpdateDeploymentRequest,
)

__all__ = [
    "history",
    "new_deployment",
    "ready_replicas",
    "record_request",
    "state_at",
    "update_deployment",
]


def _lifecycle(durations: Mapping[DeploymentState, float]) -> Lifecycle:
    def steps(*states: DeploymentState) -> tuple[tuple[str, float], ...]:
        return tuple((state.value, durations[state]) for state in states)

    provision = steps(DeploymentState.PROVISIONING)
    return Lifecycle(
        steps=provision,
        rest=DeploymentState.READY.value,
        moves={
            "start": Move(provision, DeploymentState.READY.value),
            "stop": Move(steps(DeploymentState.STOPPING), DeploymentState.STOPPED.value),
        },
    )


def _progress(deployment: Deployment) -> Progress:
    """The record's walk as the engine's; a READY deployment with an inactive timeout rests
    there only until it has served nothing for that long, then walks the stop."""
    idle = None
    if deployment.rest is DeploymentState.READY and deployment.inactive_timeout:
        stop = _lifecycle(deployment.durations).moves["stop"]
        idle = Idle(
            seconds=deployment.inactive_timeout * 60.0,
            walk=stop.steps,
            rest=stop.rest,
            touched=deployment.last_request_at,
        )
    walk = tuple((state.value, seconds) for state, seconds in deployment.walk)
    return Progress(since=deployment.since, walk=walk, rest=deployment.rest.value, idle=idle)


def _moved(deployment: Deployment, before: Progress, after: Progress) -> Deployment:
    if after is before:
        return deployment
    walk = tuple((DeploymentState(state), seconds) for state, seconds in after.walk)
    return deployment.model_copy(
        update={"since": after.since, "walk": walk, "rest": DeploymentState(after.rest)}
    )


def state_at(deployment: Deployment, now: datetime) -> DeploymentState:
    """The state at ``now``; the request that began a walk sees its first state even on the
    instant clock (a create answers PROVISIONING, the next read READY)."""
    return DeploymentState(status_at(_progress(deployment), now))


def ready_replicas(deployment: Deployment, now: datetime) -> int:
    """Replicas serving now: the autoscaler's floor once READY (at least one: a deployment with
    ``minReplicas`` 0 and room above it keeps one up here; scale to zero is not simulated)."""
    if state_at(deployment, now) in (DeploymentState.READY, DeploymentState.SCALING):
        return max(deployment.autoscaling.min_replicas or 0, 1)
    return 0


def new_deployment(
    req: CreateDeploymentRequest,
    *,
    id_: str,
    project_id: str,
    endpoint_id: str,
    model: str,
    model_id: str,
    model_revision_id: str,
    serves: str,
    config: str,
    config_id: str,
    hardware: str,
    tenant: str,
    now: datetime,
    durations: dict[DeploymentState, float],
) -> Deployment:
    """A new deployment, provisioning; one created with ``maxReplicas`` 0 starts stopped.
    ``req.name`` is already bare (the service checks it against the endpoint's others)."""
    autoscaling = resolve_autoscaling(req.autoscaling)
    check_timeout(req.inactive_timeout)
    running = (autoscaling.max_replicas or 0) > 0
    walk = ((DeploymentState.PROVISIONING, durations[DeploymentState.PROVISIONING]),)
    return Deployment(
        id=id_,
        project_id=project_id,
        endpoint_id=endpoint_id,
        name=req.name,
        model=model,
        model_id=model_id,
        model_revision_id=model_revision_id,
        serves=serves,
        config=config,
        config_id=config_id,
        hardware=hardware,
        autoscaling=autoscaling,
        enable_lora=req.enable_lora,
        placement=req.placement,
        inactive_timeout=req.inactive_timeout or None,
        max_concurrent_requests_per_replica=req.max_concurrent_requests_per_replica,
        created_at=now,
        updated_at=now,
        tenant=tenant,
        durations=durations,
        since=now,
        walk=walk if running else (),
        rest=DeploymentState.READY if running else DeploymentState.STOPPED,
    )


def _rescaled(deployment: Deployment, before: Autoscaling, now: datetime) -> Deployment:
    """The walk a change of replica bounds starts: a stop at ``maxReplicas`` 0, a start from a
    stop, and SCALING when a READY deployment's floor moves."""
    progress = settle(_progress(deployment), now)
    settled = _moved(deployment, _progress(deployment), progress)
    lifecycle = _lifecycle(deployment.durations)
    after = deployment.autoscaling
    if (after.max_replicas or 0) == 0:
        return _moved(settled, progress, apply(lifecycle, progress, "stop", now, speed=1.0))
    if DeploymentState(progress.rest) is DeploymentState.STOPPED:
        return _moved(settled, progress, apply(lifecycle, progress, "start", now, speed=1.0))
    current = DeploymentState(status_at(progress, now))
    if current is DeploymentState.READY and after.min_replicas != before.min_replicas:
        scaling = ((DeploymentState.SCALING.value, deployment.durations[DeploymentState.SCALING]),)
        return _moved(settled, progress, begin(scaling, DeploymentState.READY.value, now, 1.0))
    return settled


def update_deployment(
    deployment: Deployment,
    req: UpdateDeploymentRequest,
    fields: set[str],
    *,
    qualifier: str,
    now: datetime,
) -> Deployment:
    """``PATCH``: ``fields`` are the snake-case fields to write; a change of replica bounds
    moves the walk (see ``_rescaled``)."""
    check_etag(deployment.id, deployment.version, req.etag)
    changes: dict[str, Any] = {}
    if "name" in fields:
        if not req.name:
            raise InvalidRequest("name cannot be cleared", param="name")
        changes["name"] = bare_name(req.name, qualifier, "name")
    if "autoscaling" in fields and req.autoscaling is not None:
        changes["autoscaling"] = resolve_autoscaling(req.autoscaling, deployment.autoscaling)
    if "inactive_timeout" in fields:
        check_timeout(req.inactive_timeout)
        changes["inactive_timeout"] = req.inactive_timeout or None
        changes["last_request_at"] = now  # the idle clock counts from the change
    if "max_concurrent_requests_per_replica" in fields:
        changes["max_concurrent_requests_per_replica"] = req.max_concurrent_requests_per_replica
    updated = bumped(deployment, changes, now)
    if "autoscaling" in changes:
        updated = _rescaled(updated, deployment.autoscaling, now)
    return updated


def record_request(deployment: Deployment, now: datetime) -> Deployment:
    """A request served: it resets the idle clock of ``inactiveTimeout`` (not a new version:
    the etag guards what the user wrote, not traffic)."""
    return deployment.model_copy(update={"last_request_at": now})


def history(deployment: Deployment, now: datetime) -> list[tuple[DeploymentState, datetime]]:
    """The states the deployment's current walk entered by ``now``, each with when (an idle
    stop that came due included): what its endpoint's event log shows of it."""
    return [(DeploymentState(state), at) for state, at in walked(_progress(deployment), now)]
