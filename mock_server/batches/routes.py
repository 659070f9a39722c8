"""Batches: create from an uploaded ``batch-api`` JSONL, list, retrieve, cancel (see
``models.py`` and ``service.py``). Requests are checked against the spec, and errors come
in the shape the spec gives the batch operations, ``{"error": "..."}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from mock_server.batches import service as batch_service
from mock_server.deps import TenantDep
from mock_server.families.engine import Resources
from mock_server.spec.routing import SpecRequestDep, SpecRoute

__all__ = ["router", "service"]

router = APIRouter(prefix="/v1", tags=["Batches"], route_class=SpecRoute)


def service(app: FastAPI) -> Resources:
    """The app's ``Resources`` (made in ``app.py``)."""
    resources: Resources = app.state.services.resources
    return resources


@router.post("/batches", response_model=None)
async def create_batch(request: Request, tenant: TenantDep, valid: SpecRequestDep) -> JSONResponse:
    created = batch_service.create(service(request.app), tenant, dict(valid.body))
    return JSONResponse(created, status_code=201)


@router.get("/batches", response_model=None)
async def list_batches(request: Request, tenant: TenantDep) -> list[dict[str, Any]]:
    return batch_service.list_batches(service(request.app), tenant)


@router.get("/batches/{id}", response_model=None)
async def get_batch(request: Request, tenant: TenantDep, valid: SpecRequestDep) -> dict[str, Any]:
    return batch_service.get(service(request.app), tenant, str(valid.path["id"]))


@router.post("/batches/{id}/cancel", response_model=None)
async def cancel_batch(
    request: Request, tenant: TenantDep, valid: SpecRequestDep
) -> dict[str, Any]:
    return batch_service.cancel(service(request.app), tenant, str(valid.path["id"]))
