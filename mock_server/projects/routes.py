"""The key's identity (``/v1/whoami``, ``/v3/whoami``, ``/v1/projects``) and the project-scoped
endpoints with their deployments (``/v2/projects/{projectId}/endpoints/**``, and the
organization's shared endpoints), as SDK 3.x's ``client.whoami``, ``client.projects`` and
``client.endpoints`` and the ``together endpoints`` CLI call them. ``/v3/whoami`` and
``/v1/projects`` are in neither spec (the overlay adds them from SDK 3.1.1's types)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mock_server.core.offload import off_loop
from mock_server.deps import ProjectsDep, TenantDep
from mock_server.projects.experiments import CreateABExperimentRequest, UpdateABExperimentRequest
from mock_server.projects.requests import (
    CreateDeploymentRequest,
    CreateEndpointRequest,
    UpdateDeploymentRequest,
    UpdateEndpointRequest,
)
from mock_server.projects.service import ADAPTER, ROLLOUT, SHADOW_EXPERIMENT
from mock_server.spec.routing import SpecRoute

__all__ = ["router"]

router = APIRouter(tags=["Account", "EndpointService", "DeploymentService"], route_class=SpecRoute)

_ENDPOINTS = "/v2/projects/{projectId}/endpoints"
_DEPLOYMENTS = "/v2/projects/{projectId}/endpoints/{endpointId}/deployments"

Limit = Annotated[int | None, Query()]
OrderBy = Annotated[str | None, Query(alias="orderBy")]
Filter = Annotated[str | None, Query(alias="filter")]
UpdateMask = Annotated[str | None, Query(alias="updateMask")]


@router.get("/v1/whoami")
async def whoami(projects: ProjectsDep, tenant: TenantDep) -> dict[str, Any]:
    return projects.identity(tenant).whoami_v1()


@router.get("/v3/whoami")
async def whoami_v3(projects: ProjectsDep, tenant: TenantDep) -> dict[str, Any]:
    return projects.identity(tenant).whoami_v3()


@router.get("/v1/projects")
async def list_projects(projects: ProjectsDep, tenant: TenantDep) -> dict[str, Any]:
    """A project key reaches its own project only."""
    return {"object": "list", "data": [projects.identity(tenant).project()]}


@router.get("/v2/organizations/{organizationId}/endpoints")
@off_loop
def list_organization_endpoints(
    organizationId: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    limit: Limit = None,
    after: str | None = None,
    order_by: OrderBy = None,
    filter_: Filter = None,
) -> dict[str, Any]:
    return projects.list_organization_endpoints(
        tenant, organizationId, limit=limit, after=after, order_by=order_by, filter_=filter_
    )


@router.get(_ENDPOINTS)
@off_loop
def list_endpoints(
    projectId: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    limit: Limit = None,
    after: str | None = None,
    order_by: OrderBy = None,
    filter_: Filter = None,
) -> dict[str, Any]:
    return projects.list_endpoints(
        tenant, projectId, limit=limit, after=after, order_by=order_by, filter_=filter_
    )


@router.post(_ENDPOINTS)
@off_loop
def create_endpoint(
    projectId: str, body: CreateEndpointRequest, projects: ProjectsDep, tenant: TenantDep
) -> dict[str, Any]:
    return projects.create_endpoint(tenant, projectId, body)


@router.get(_ENDPOINTS + "/{id}")
@off_loop
def get_endpoint(
    projectId: str, id: str, projects: ProjectsDep, tenant: TenantDep
) -> dict[str, Any]:
    return projects.get_endpoint(tenant, projectId, id)


@router.patch(_ENDPOINTS + "/{id}")
@off_loop
def update_endpoint(
    projectId: str,
    id: str,
    body: UpdateEndpointRequest,
    projects: ProjectsDep,
    tenant: TenantDep,
    update_mask: UpdateMask = None,
) -> dict[str, Any]:
    return projects.update_endpoint(tenant, projectId, id, body, update_mask)


@router.delete(_ENDPOINTS + "/{id}")
@off_loop
def delete_endpoint(
    projectId: str, id: str, projects: ProjectsDep, tenant: TenantDep, etag: str | None = None
) -> dict[str, Any]:
    return projects.delete_endpoint(tenant, projectId, id, etag)


@router.get(_DEPLOYMENTS)
@off_loop
def list_deployments(
    projectId: str,
    endpointId: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    limit: Limit = None,
    after: str | None = None,
    order_by: OrderBy = None,
    filter_: Filter = None,
) -> dict[str, Any]:
    return projects.list_deployments(
        tenant, projectId, endpointId, limit=limit, after=after, order_by=order_by, filter_=filter_
    )


@router.post(_DEPLOYMENTS)
@off_loop
def create_deployment(
    projectId: str,
    endpointId: str,
    body: CreateDeploymentRequest,
    projects: ProjectsDep,
    tenant: TenantDep,
    validate_only: Annotated[bool, Query(alias="validateOnly")] = False,
) -> dict[str, Any]:
    return projects.create_deployment(
        tenant, projectId, endpointId, body, validate_only=validate_only
    )


@router.get(_DEPLOYMENTS + "/{id}")
@off_loop
def get_deployment(
    projectId: str, endpointId: str, id: str, projects: ProjectsDep, tenant: TenantDep
) -> dict[str, Any]:
    return projects.get_deployment(tenant, projectId, endpointId, id)


@router.patch(_DEPLOYMENTS + "/{id}")
@off_loop
def update_deployment(
    projectId: str,
    endpointId: str,
    id: str,
    body: UpdateDeploymentRequest,
    projects: ProjectsDep,
    tenant: TenantDep,
    update_mask: UpdateMask = None,
) -> dict[str, Any]:
    return projects.update_deployment(tenant, projectId, endpointId, id, body, update_mask)


@router.delete(_DEPLOYMENTS + "/{id}")
@off_loop
def delete_deployment(
    projectId: str,
    endpointId: str,
    id: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    etag: str | None = None,
) -> dict[str, Any]:
    return projects.delete_deployment(tenant, projectId, endpointId, id, etag)


def _children(kind: str, path: str) -> None:
    """The list of an endpoint's (or a deployment's) records of ``kind``."""

    @router.get(path, name=f"list_{kind}")
    @off_loop
    def list_children(
        projectId: str,
        endpointId: str,
        projects: ProjectsDep,
        tenant: TenantDep,
        deploymentId: str | None = None,
        limit: Limit = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        return projects.list_children(
            tenant,
            projectId,
            endpointId,
            kind,
            deployment_id=deploymentId,
            limit=limit,
            after=after,
            order_by=None,
            filter_=None,
        )


_children(SHADOW_EXPERIMENT, "/v2/projects/{projectId}/endpoints/{endpointId}/shadowExperiments")
_children(ROLLOUT, "/v2/projects/{projectId}/endpoints/{endpointId}/rollouts")
_children(ADAPTER, _DEPLOYMENTS + "/{deploymentId}/adapters")


def _listed(values: list[str] | None) -> list[str]:
    """A query array as SDK 3.1.1 sends it (``types=a,b``) or repeated (``types=a&types=b``)."""
    return [part for value in values or () for part in value.split(",") if part]


@router.get(_ENDPOINTS + "/{id}/events")
@off_loop
def list_endpoint_events(
    projectId: str,
    id: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    limit: Limit = None,
    after: str | None = None,
    types: Annotated[list[str] | None, Query()] = None,
    min_level: Annotated[str | None, Query(alias="minLevel")] = None,
    since: str | None = None,
    until: str | None = None,
    deployment_ids: Annotated[list[str] | None, Query(alias="deploymentIds")] = None,
    source_kinds: Annotated[list[str] | None, Query(alias="sourceKinds")] = None,
    subject_id: Annotated[str | None, Query(alias="subjectId")] = None,
) -> dict[str, Any]:
    return projects.list_events(
        tenant,
        projectId,
        id,
        limit=limit,
        after=after,
        deployment_ids=_listed(deployment_ids),
        types=_listed(types),
        min_level=min_level,
        since=since,
        until=until,
        source_kinds=_listed(source_kinds),
        subject_id=subject_id,
    )


_AB = "/v2/projects/{projectId}/endpoints/{endpointId}/abExperiments"


@router.get(_AB)
@off_loop
def list_ab_experiments(
    projectId: str,
    endpointId: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    limit: Limit = None,
    after: str | None = None,
) -> dict[str, Any]:
    return projects.list_ab_experiments(
        tenant, projectId, endpointId, limit=limit, after=after, order_by=None, filter_=None
    )


@router.post(_AB)
@off_loop
def create_ab_experiment(
    projectId: str,
    endpointId: str,
    body: CreateABExperimentRequest,
    projects: ProjectsDep,
    tenant: TenantDep,
) -> dict[str, Any]:
    return projects.create_ab_experiment(tenant, projectId, endpointId, body)


@router.get(_AB + "/{id}")
@off_loop
def get_ab_experiment(
    projectId: str, endpointId: str, id: str, projects: ProjectsDep, tenant: TenantDep
) -> dict[str, Any]:
    return projects.get_ab_experiment(tenant, projectId, endpointId, id)


@router.patch(_AB + "/{id}")
@off_loop
def update_ab_experiment(
    projectId: str,
    endpointId: str,
    id: str,
    body: UpdateABExperimentRequest,
    projects: ProjectsDep,
    tenant: TenantDep,
    update_mask: UpdateMask = None,
) -> dict[str, Any]:
    return projects.update_ab_experiment(tenant, projectId, endpointId, id, body, update_mask)


@router.delete(_AB + "/{id}")
@off_loop
def delete_ab_experiment(
    projectId: str,
    endpointId: str,
    id: str,
    projects: ProjectsDep,
    tenant: TenantDep,
    etag: str | None = None,
) -> dict[str, Any]:
    return projects.delete_ab_experiment(tenant, projectId, endpointId, id, etag)
