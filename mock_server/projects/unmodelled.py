"""The routes of the project families the simulator does not model yet: shadow experiments and
their targets, rollouts, a deployment's adapters and the project's placement profiles, other
than the lists of ``routes.py``. Claimed here rather than left to the generic layer, which
would answer each with a record built from the spec's examples ("string" ids that exist
nowhere); ``EventLog.unmodelled`` answers what the store holds instead: a 404 naming the id,
or a 400 ``not_modelled`` for a create."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mock_server.core.offload import off_loop
from mock_server.deps import ProjectsDep, TenantDep
from mock_server.projects.event_log import TARGET
from mock_server.projects.records import ADAPTER, ROLLOUT, SHADOW_EXPERIMENT
from mock_server.spec.routing import SpecRoute

__all__ = ["router"]

router = APIRouter(tags=["ShadowExperimentService", "RolloutService"], route_class=SpecRoute)

_ENDPOINT = "/v2/projects/{projectId}/endpoints/{endpointId}"
_SHADOW = _ENDPOINT + "/shadowExperiments"
_TARGETS = _SHADOW + "/{experimentId}/targets"
_ROLLOUTS = _ENDPOINT + "/rollouts"
_ADAPTERS = _ENDPOINT + "/deployments/{deploymentId}/adapters"
_PROFILES = "/v2/projects/{projectId}/placement-profiles"
_ROLLOUT_ACTIONS = ("start", "pause", "resume", "cancel", "promote")


def _mount(method: str, path: str, kind: str) -> None:
    """One operation on ``kind``: the path's parameters tell the service which records to look
    for (its ``id`` if it has one; none is a create)."""

    @router.api_route(path, methods=[method], name=f"{method.lower()}_{kind}_{path.count('/')}")
    @off_loop
    def answer(
        projectId: str,
        endpointId: str,
        projects: ProjectsDep,
        tenant: TenantDep,
        id: str | None = None,
        deploymentId: str | None = None,
        experimentId: str | None = None,
    ) -> dict[str, Any]:
        return projects.unmodelled(
            tenant,
            projectId,
            endpointId,
            kind,
            deployment_id=deploymentId,
            experiment_id=experimentId,
            record_id=id,
        )


for _kind, _base in ((SHADOW_EXPERIMENT, _SHADOW), (TARGET, _TARGETS), (ADAPTER, _ADAPTERS)):
    _mount("POST", _base, _kind)
    for _method in ("GET", "PATCH", "DELETE"):
        _mount(_method, _base + "/{id}", _kind)
_mount("POST", _ROLLOUTS, ROLLOUT)
_mount("POST", _ROLLOUTS + "/preview-defaults", ROLLOUT)
_mount("GET", _ROLLOUTS + "/{id}", ROLLOUT)
_mount("DELETE", _ROLLOUTS + "/{id}", ROLLOUT)
for _action in _ROLLOUT_ACTIONS:
    _mount("POST", _ROLLOUTS + "/{id}/" + _action, ROLLOUT)


@router.get(_TARGETS)
@off_loop
def list_targets(
    projectId: str,
    endpointId: str,
    experimentId: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    limit: Annotated[int | None, Query()] = None,
    after: str | None = None,
) -> dict[str, Any]:
    return projects.list_children(
        tenant,
        projectId,
        endpointId,
        TARGET,
        experiment_id=experimentId,
        limit=limit,
        after=after,
        order_by=None,
        filter_=None,
    )


@router.get(_PROFILES)
@off_loop
def list_placement_profiles(
    projectId: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    limit: Annotated[int | None, Query()] = None,
    after: str | None = None,
) -> dict[str, Any]:
    return projects.list_placement_profiles(tenant, projectId, limit=limit, after=after)


@router.get(_PROFILES + "/{id}")
@off_loop
def get_placement_profile(
    projectId: str, id: str, projects: ProjectsDep, tenant: TenantDep
) -> dict[str, Any]:
    projects.get_placement_profile(tenant, projectId, id)  # a 404: none is kept
