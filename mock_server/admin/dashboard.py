"""``/_sim/ui``: the dashboard page, its files, its read-only JSON and its live event stream.

Like the other ``/_sim`` controls it looks across tenants and needs no key; unlike them it only
reads. The page is package data (``mock_server/admin/ui/static``), served as it is: no build step.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from mock_server.admin.ui import views
from mock_server.admin.ui.stream import snapshot_events
from mock_server.core.errors import NotFound
from mock_server.deps import BackendDep, SettingsDep
from mock_server.fine_tuning.service import Backend, json_body

__all__ = ["router", "wants_html"]

router = APIRouter(prefix="/_sim/ui", tags=["Simulator dashboard"])

_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_NO_STORE = {"cache-control": "no-store"}  # a server upgrade must not leave an old page behind

TenantQuery = Annotated[str | None, Query()]
JobQuery = Annotated[str | None, Query()]


def _static(name: str) -> bytes:
    return resources.files("mock_server.admin.ui").joinpath("static", name).read_bytes()


def _known_tenant(backend: Backend, tenant: str) -> None:
    if tenant not in backend.store.list_tenants():
        raise NotFound("tenant", tenant, message=f"No tenant {tenant}", param="tenant")


def wants_html(accept: str) -> bool:
    """A browser asks for ``text/html`` (and gets the dashboard at ``/``); the SDKs, curl and
    httpx send ``application/json`` or ``*/*`` (and get the service's JSON)."""
    for item in accept.split(","):
        media, *params = (part.strip().lower() for part in item.split(";"))
        if media == "text/html":
            quality = next((p.removeprefix("q=") for p in params if p.startswith("q=")), "1")
            try:
                return float(quality) > 0
            except ValueError:
                return False
    return False


@router.get("", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_static("index.html"), headers=_NO_STORE)


@router.get("/static/{name}")
async def dashboard_asset(name: str) -> Response:
    if name not in _ASSETS:
        raise NotFound("asset", name, message=f"No dashboard file {name}", param="name")
    return Response(_static(name), media_type=_ASSETS[name], headers=_NO_STORE)


@router.get("/api/snapshot")
async def dashboard_snapshot(
    backend: BackendDep, settings: SettingsDep, tenant: TenantQuery = None, job: JobQuery = None
) -> dict[str, Any]:
    return views.snapshot(backend, clock_mode=settings.clock.value, tenant=tenant, job_id=job)


@router.get("/api/tenants")
async def dashboard_tenants(backend: BackendDep) -> dict[str, Any]:
    return {"object": "list", "data": views.tenants(backend)}


@router.get("/api/tenants/{tenant}")
async def dashboard_tenant(tenant: str, backend: BackendDep) -> dict[str, Any]:
    _known_tenant(backend, tenant)
    return {
        "id": tenant,
        "files": views.files(backend, tenant),
        "jobs": views.jobs(backend, tenant),
    }


@router.get("/api/tenants/{tenant}/jobs/{id}")
async def dashboard_job(tenant: str, id: str, backend: BackendDep) -> dict[str, Any]:
    return views.job_detail(backend, tenant, id)


@router.get("/api/faults")
async def dashboard_faults(backend: BackendDep) -> dict[str, Any]:
    return views.faults(backend)


@router.get("/events")
async def dashboard_events(
    backend: BackendDep, settings: SettingsDep, tenant: TenantQuery = None, job: JobQuery = None
) -> StreamingResponse:
    def read() -> bytes:
        view = views.snapshot(backend, clock_mode=settings.clock.value, tenant=tenant, job_id=job)
        return json_body(view)

    return StreamingResponse(
        snapshot_events(read),
        media_type="text/event-stream",
        headers={**_NO_STORE, "x-accel-buffering": "no"},
    )
