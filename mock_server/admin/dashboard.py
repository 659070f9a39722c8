"""``/_sim/ui``: the dashboard page, its files, its read-only JSON and its live event stream.

Like the other ``/_sim`` controls it looks across tenants and needs no key; unlike them it only
reads. The page is package data (``mock_server/admin/ui/static``), served as it is: no build step.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from mock_server.admin.ui import views
from mock_server.admin.ui.stream import snapshot_stream
from mock_server.core.errors import NotFound
from mock_server.core.wire import json_body
from mock_server.deps import Services, SettingsDep

__all__ = ["router", "wants_html"]

router = APIRouter(prefix="/_sim/ui", tags=["Simulator dashboard"])

_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_NO_STORE = {"cache-control": "no-store"}  # a server upgrade must not leave an old page behind

TenantQuery = Annotated[str | None, Query()]
JobQuery = Annotated[str | None, Query()]


def _static(name: str) -> bytes:
    return resources.files("mock_server.admin.ui").joinpath("static", name).read_bytes()


async def _sources(request: Request) -> views.Sources:
    services: Services = request.app.state.services
    return views.Sources(
        store=services.store,
        clock=services.clock,
        files=services.files,
        jobs=services.fine_tuning,
        faults=services.faults,
    )


SourcesDep = Annotated[views.Sources, Depends(_sources)]


def _known_tenant(src: views.Sources, tenant: str) -> None:
    if tenant not in src.store.list_tenants():
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
    src: SourcesDep, settings: SettingsDep, tenant: TenantQuery = None, job: JobQuery = None
) -> dict[str, Any]:
    return views.snapshot(src, clock_mode=settings.clock.value, tenant=tenant, job_id=job)


@router.get("/api/tenants")
async def dashboard_tenants(src: SourcesDep) -> dict[str, Any]:
    return {"object": "list", "data": views.tenants(src)}


@router.get("/api/tenants/{tenant}")
async def dashboard_tenant(tenant: str, src: SourcesDep) -> dict[str, Any]:
    _known_tenant(src, tenant)
    return {
        "id": tenant,
        "files": views.files(src, tenant),
        "jobs": views.jobs(src, tenant),
    }


@router.get("/api/tenants/{tenant}/jobs/{id}")
async def dashboard_job(tenant: str, id: str, src: SourcesDep) -> dict[str, Any]:
    return views.job_detail(src, tenant, id)


@router.get("/api/faults")
async def dashboard_faults(src: SourcesDep) -> dict[str, Any]:
    return views.faults(src)


@router.get("/events")
async def dashboard_events(
    src: SourcesDep, settings: SettingsDep, tenant: TenantQuery = None, job: JobQuery = None
) -> Response:
    def read() -> bytes:
        view = views.snapshot(src, clock_mode=settings.clock.value, tenant=tenant, job_id=job)
        return json_body(view)

    return snapshot_stream(read)
