"""Project-scoped endpoints and their deployments, pure: the records, names, etags and the
endpoint's traffic split (the request shapes are ``requests.py``'s, the deployment's walk
``walk.py``'s, what they answer ``views.py``'s).

An endpoint (``ep_...``) is only a name that inference requests use (``<project_slug>/<name>``)
and a live traffic split over its deployments; a deployment (``dep_...``) binds one model to the
endpoint on hardware and runs replicas. So an endpoint answers once a deployment it routes to
(weight above 0) is READY, as the spec's create description says: "Add one or more deployments
and configure its traffic split before sending inference requests to the endpoint name".

A deployment's state is read off the clock by ``core/lifecycle.py`` as every resource's is:

    create (maxReplicas > 0) ─→ PROVISIONING ─→ READY ─→ SCALING ─→ READY    (replicas changed)
    create (maxReplicas 0)  ─→ STOPPED
    min = max = 0           ─→ STOPPING ─→ STOPPED                 (from any state, a stop)
    maxReplicas > 0 again   ─→ PROVISIONING ─→ READY               (from STOPPING or STOPPED)

``inactiveTimeout`` (minutes, the user's own, unscaled) stops a READY deployment that serves no
request for that long, the engine's idle rest, as a v1 endpoint's does. DEGRADED and FAILED are
the spec's; nothing here reaches them.

Every write bumps the record's ``version``, and the ``etag`` is a digest of id and version: a
write that sends an ``etag`` that is no longer current is refused (409), one without writes.
Nothing here reads a clock, touches the store or logs.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

from pydantic import ConfigDict

from mock_server.core.errors import Conflict, InvalidRequest
from mock_server.core.lazy_model import LazyModel
from mock_server.projects.requests import (
    Autoscaling,
    CreateEndpointRequest,
    TrafficSplitEntry,
    UpdateEndpointRequest,
    Visibility,
)

__all__ = [
    "DURATIONS",
    "Deployment",
    "DeploymentState",
    "ProjectEndpoint",
    "bare_name",
    "bumped",
    "check_etag",
    "check_timeout",
    "etag_of",
    "new_endpoint",
    "resolve_autoscaling",
    "scaled_durations",
    "update_endpoint",
    "without_deployment",
]


class DeploymentState(StrEnum):
    PROVISIONING = "DEPLOYMENT_STATE_PROVISIONING"
    READY = "DEPLOYMENT_STATE_READY"
    SCALING = "DEPLOYMENT_STATE_SCALING"
    DEGRADED = "DEPLOYMENT_STATE_DEGRADED"
    FAILED = "DEPLOYMENT_STATE_FAILED"
    STOPPED = "DEPLOYMENT_STATE_STOPPED"
    STOPPING = "DEPLOYMENT_STATE_STOPPING"


# Seconds at the real service's pace (speed 1), estimated like a v1 endpoint's start (a minute)
# and stop (15 s); the timeline's speed divides them when the deployment is created.
DURATIONS: Final[Mapping[DeploymentState, float]] = {
    DeploymentState.PROVISIONING: 60.0,
    DeploymentState.SCALING: 30.0,
    DeploymentState.STOPPING: 15.0,
}

# A name within a project (endpoint) or an endpoint (deployment): the characters the 3.x CLI's
# own default names use (a model name with "/" made "-", a dot in "3.1"). The limit is estimated.
MAX_REPLICAS = 100  # per deployment, as families/deployments runs  # estimated
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,127})$")


def scaled_durations(speed: float) -> dict[DeploymentState, float]:
    """``DURATIONS`` at ``speed``; the instant clock's infinite speed makes them all zero."""
    if math.isinf(speed):
        return dict.fromkeys(DURATIONS, 0.0)
    return {state: seconds / speed for state, seconds in DURATIONS.items()}


class ProjectEndpoint(LazyModel):
    """An endpoint; ``name`` is the bare name, rendered ``<project_slug>/<name>``."""

    model_config = ConfigDict(frozen=True)

    id: str
    project_id: str
    name: str
    visibility: Visibility
    traffic_split: tuple[TrafficSplitEntry, ...] = ()
    created_at: datetime
    updated_at: datetime
    version: int = 1
    tenant: str


class Deployment(LazyModel):
    """A deployment. ``model`` is the pinned resource path, ``serves`` the model name that
    answers its requests (a catalogue model or a fine-tune's output)."""

    model_config = ConfigDict(frozen=True)

    id: str
    project_id: str
    endpoint_id: str
    name: str
    model: str
    model_id: str
    model_revision_id: str
    serves: str
    config: str
    config_id: str
    hardware: str
    autoscaling: Autoscaling  # resolved: both replica bounds set
    enable_lora: bool = False
    placement: dict[str, Any] | None = None
    inactive_timeout: int | None = None
    max_concurrent_requests_per_replica: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 1
    tenant: str
    # -- the walk: when it began, its states with their (scaled) seconds, where it rests
    durations: dict[DeploymentState, float]
    since: datetime
    walk: tuple[tuple[DeploymentState, float], ...] = ()
    rest: DeploymentState
    last_request_at: datetime | None = None


# -- names, etags, settings --


def bare_name(name: str, qualifier: str, param: str) -> str:
    """A name as sent (bare, or qualified: ``<project_slug>/<name>`` for an endpoint,
    ``<project_slug>/<endpoint_name>/<name>`` for a deployment) made bare; "a supplied project
    slug must match the project in the request path"."""
    prefix, sep, rest = name.rpartition("/")
    if sep:
        if prefix != qualifier:
            raise InvalidRequest(
                f"{param} {name!r} is qualified by {prefix!r}, not by this project's {qualifier!r}",
                param=param,
            )
        name = rest
    if not _NAME.match(name):
        raise InvalidRequest(
            f"{param} {name!r} must start with a letter or digit and hold only letters, digits, "
            "'.', '_' and '-' (at most 128 characters)",
            param=param,
        )
    return name


def etag_of(id_: str, version: int) -> str:
    return hashlib.sha256(f"{id_}:{version}".encode()).hexdigest()[:16]


def check_etag(id_: str, version: int, sent: str | None, param: str = "etag") -> None:
    """An etag that is no longer current: the record changed after the caller read it."""
    if sent is not None and sent != etag_of(id_, version):
        raise Conflict(
            f"The etag {sent!r} does not match {id_}'s current version: it changed since it "
            "was read. Read it again and retry.",
            param=param,
        )


def resolve_autoscaling(asked: Autoscaling, current: Autoscaling | None = None) -> Autoscaling:
    """Both replica bounds set: "``maxReplicas`` defaults to ``minReplicas``", an omitted bound
    keeps its current value on update, and a new deployment's ``minReplicas`` is 1 (estimated,
    as the 3.x CLI's default) unless ``maxReplicas`` 0 asks for a stopped one."""
    fields = asked.model_fields_set
    merged = (current or Autoscaling()).model_copy(
        update={name: getattr(asked, name) for name in fields}
    )
    low, high = merged.min_replicas, merged.max_replicas
    if low is None:
        low = 1 if high is None or high >= 1 else 0
    if high is None or ("max_replicas" not in fields and "min_replicas" in fields and high < low):
        high = low
    if low > high:
        raise InvalidRequest(
            f"autoscaling.minReplicas ({low}) must not exceed autoscaling.maxReplicas ({high})",
            param="autoscaling.minReplicas",
        )
    if high > MAX_REPLICAS:  # the spec bounds none; each replica is routed to and counted
        raise InvalidRequest(
            f"autoscaling.maxReplicas ({high}) is more than the {MAX_REPLICAS} the simulator runs",
            param="autoscaling." + ("maxReplicas" if "max_replicas" in fields else "minReplicas"),
        )
    return merged.model_copy(update={"min_replicas": low, "max_replicas": high})


def check_timeout(minutes: int | None) -> None:
    # SDK 3.1.1: "Use 0 or omit to disable automatic stopping; otherwise accepted values are 30
    # through 1440."
    if minutes is not None and minutes != 0 and not 30 <= minutes <= 1440:
        raise InvalidRequest(
            f"inactiveTimeout must be 0 (off) or 30 to 1440 minutes (got {minutes})",
            param="inactiveTimeout",
        )


# -- endpoints --


def new_endpoint(
    req: CreateEndpointRequest, *, id_: str, project_id: str, slug: str, tenant: str, now: datetime
) -> ProjectEndpoint:
    return ProjectEndpoint(
        id=id_,
        project_id=project_id,
        name=bare_name(req.name, slug, "name"),
        visibility=req.visibility,
        created_at=now,
        updated_at=now,
        tenant=tenant,
    )


def update_endpoint(
    endpoint: ProjectEndpoint,
    req: UpdateEndpointRequest,
    fields: set[str],
    *,
    slug: str,
    deployment_ids: Sequence[str],
    now: datetime,
) -> ProjectEndpoint:
    """``PATCH``: ``fields`` are the snake-case fields to write (the ``updateMask``'s, or those
    sent). The split must name only this endpoint's deployments, each once, with finite weights
    of 0 or more."""
    check_etag(endpoint.id, endpoint.version, req.etag)
    changes: dict[str, Any] = {}
    if "name" in fields:
        if req.name is None:
            raise InvalidRequest("name cannot be cleared", param="name")
        changes["name"] = bare_name(req.name, slug, "name")
    if "visibility" in fields:
        changes["visibility"] = req.visibility or "VISIBILITY_PRIVATE"
    if "traffic_split" in fields:
        split = tuple(req.traffic_split or ())
        seen: set[str] = set()
        for i, entry in enumerate(split):
            if entry.deployment_id not in deployment_ids:
                raise InvalidRequest(
                    f"trafficSplit[{i}].deploymentId {entry.deployment_id} is not a deployment "
                    f"of endpoint {endpoint.id}",
                    param=f"trafficSplit.{i}.deploymentId",
                )
            if entry.deployment_id in seen:
                raise InvalidRequest(
                    f"trafficSplit names deployment {entry.deployment_id} more than once",
                    param=f"trafficSplit.{i}.deploymentId",
                )
            if not math.isfinite(entry.weight) or entry.weight < 0:
                raise InvalidRequest(
                    f"trafficSplit[{i}].weight must be a finite number of 0 or more "
                    f"(got {entry.weight})",
                    param=f"trafficSplit.{i}.weight",
                )
            seen.add(entry.deployment_id)
        changes["traffic_split"] = split
    return bumped(endpoint, changes, now)


_R = TypeVar("_R", ProjectEndpoint, Deployment)


def bumped(record: _R, changes: dict[str, Any], now: datetime) -> _R:
    return record.model_copy(update={**changes, "version": record.version + 1, "updated_at": now})


def without_deployment(
    endpoint: ProjectEndpoint, deployment_id: str, now: datetime
) -> ProjectEndpoint:
    """A deleted deployment leaves the split (a new version if it was in it)."""
    kept = tuple(e for e in endpoint.traffic_split if e.deployment_id != deployment_id)
    if len(kept) == len(endpoint.traffic_split):
        return endpoint
    return bumped(endpoint, {"traffic_split": kept}, now)
