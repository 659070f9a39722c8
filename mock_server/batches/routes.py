"""Batches: create from an uploaded ``batch-api`` JSONL, list, retrieve, cancel (see
``models.py`` and ``service.py``). Requests are checked against the spec, and errors come
in the shape the spec gives the batch operations, ``{"error": "..."}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from mock_server.batches import service as batch_service
from mock_server.core.offload import off_loop
from mock_server.deps import ResourcesDep, TenantDep
from mock_server.spec.routing import SpecRequestDep, SpecRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Batches"], route_class=SpecRoute)


@router.post("/batches", response_model=None)
@off_loop
def create_batch(resources: ResourcesDep, tenant: TenantDep, valid: SpecRequestDep) -> JSONResponse:
    created = batch_service.create(resources, tenant, dict(valid.body))
    return JSONResponse(created, status_code=201)


@router.get("/batches", response_model=None)
@off_loop
def list_batches(resources: ResourcesDep, tenant: TenantDep) -> list[dict[str, Any]]:
    return batch_service.list_batches(resources, tenant)


@router.get("/batches/{id}", response_model=None)
@off_loop
def get_batch(resources: ResourcesDep, tenant: TenantDep, valid: SpecRequestDep) -> dict[str, Any]:
    return batch_service.get(resources, tenant, str(valid.path["id"]))


@router.post("/batches/{id}/cancel", response_model=None)
@off_loop
def cancel_batch(
    resources: ResourcesDep, tenant: TenantDep, valid: SpecRequestDep
) -> dict[str, Any]:
    return batch_service.cancel(resources, tenant, str(valid.path["id"]))
