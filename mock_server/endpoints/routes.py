"""Dedicated endpoints: create, list, retrieve, update (start, stop, rescale), delete; the hardware
they run on and the availability zones. The clients that speak these operations are SDK 1.5.x and
2.x (SDK 3.x's ``client.endpoints`` is a different, project-scoped API: ``projects/``;
neither lists the other's endpoints)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from mock_server.core.offload import off_loop
from mock_server.deps import EndpointsDep, TenantDep
from mock_server.endpoints.models import CreateEndpointRequest, UpdateEndpointRequest
from mock_server.spec.routing import SpecRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Endpoints", "Hardware"], route_class=SpecRoute)


@router.get("/endpoints")
@off_loop
def list_endpoints(
    endpoints: EndpointsDep,
    tenant: TenantDep,
    type_: Annotated[Literal["dedicated", "serverless"] | None, Query(alias="type")] = None,
    usage_type: Literal["on-demand", "reserved"] | None = None,
    mine: bool | None = None,
) -> dict[str, Any]:
    data = endpoints.list_endpoints(tenant, type_=type_, usage_type=usage_type, mine=mine)
    return {"object": "list", "data": data}


@router.post("/endpoints")
@off_loop
def create_endpoint(
    body: CreateEndpointRequest, endpoints: EndpointsDep, tenant: TenantDep
) -> dict[str, Any]:
    return endpoints.create(tenant, body)


@router.get("/endpoints/{endpointId}")
@off_loop
def get_endpoint(endpointId: str, endpoints: EndpointsDep, tenant: TenantDep) -> dict[str, Any]:
    return endpoints.get(tenant, endpointId)


@router.patch("/endpoints/{endpointId}")
@off_loop
def update_endpoint(
    endpointId: str,
    body: UpdateEndpointRequest,
    endpoints: EndpointsDep,
    tenant: TenantDep,
) -> dict[str, Any]:
    return endpoints.update(tenant, endpointId, body)


@router.delete("/endpoints/{endpointId}", status_code=204)
@off_loop
def delete_endpoint(endpointId: str, endpoints: EndpointsDep, tenant: TenantDep) -> Response:
    endpoints.delete(tenant, endpointId)
    return Response(status_code=204)


@router.get("/hardware")
@off_loop
def list_hardware(
    endpoints: EndpointsDep, tenant: TenantDep, model: str | None = None
) -> dict[str, Any]:
    return {"object": "list", "data": endpoints.list_hardware(tenant, model)}


@router.get("/clusters/availability-zones")
async def availability_zones(endpoints: EndpointsDep, tenant: TenantDep) -> dict[str, Any]:
    return {"avzones": endpoints.availability_zones()}
