"""``/_sim/ui``: the dashboard page, its files, its read-only JSON and its live event stream.

With no key configured it looks across tenants and needs no key, like the other ``/_sim``
controls; unlike them it only reads. With keys configured its JSON and stream want one: the admin
key sees every tenant, a tenant's key its own (another tenant's is a 403). A browser's
``EventSource`` cannot send an ``Authorization`` header, so the page signs in once
(``POST /_sim/ui/session``) and the key rides in a cookie that only ``/_sim/ui`` gets
(``HttpOnly``, ``SameSite=Strict``); the controls never read it, so no other site can act through
a signed-in browser. The page itself, and its files, hold no data and need no key.

The page is package data (``mock_server/admin/ui/static``), served as it is: no build step.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field, ValidationError

from mock_server.admin.ui import views
from mock_server.admin.ui.stream import snapshot_stream
from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.lazy_model import LazyModel
from mock_server.core.offload import off_loop
from mock_server.core.tenancy import Caller, Forbidden, bearer_key
from mock_server.core.wire import json_body
from mock_server.deps import Services, SettingsDep, TenancyDep

__all__ = ["SESSION_COOKIE", "router"]

router = APIRouter(prefix="/_sim/ui", tags=["Simulator dashboard"])

_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
_NO_STORE = {"cache-control": "no-store"}  # a server upgrade must not leave an old page behind

TenantQuery = Annotated[str | None, Query()]
JobQuery = Annotated[str | None, Query()]

SESSION_COOKIE = "together_sim_key"


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


async def _viewer(request: Request, tenancy: TenancyDep) -> Caller:
    """Who looks: the key of the ``Authorization`` header (a script) or of the page's sign-in
    cookie (a browser)."""
    header = bearer_key(request.headers.get("authorization", ""))
    return tenancy.caller(header or request.cookies.get(SESSION_COOKIE) or None)


ViewerDep = Annotated[Caller, Depends(_viewer)]


def _only(viewer: Caller) -> str | None:
    """The one tenant a viewer may see; None: every tenant."""
    return None if viewer.admin else viewer.tenant


def _may_see(viewer: Caller, tenant: str) -> None:
    # A 403 whether or not the tenant exists: a tenant's key learns nothing of the others.
    if not viewer.admin and tenant != viewer.tenant:
        raise Forbidden(
            "Another tenant's data needs the admin key (started with --admin-key).",
            param="tenant",
            code="admin_key_required",
        )


def _known_tenant(src: views.Sources, tenant: str) -> None:
    if tenant not in src.store.list_tenants():
        raise NotFound("tenant", tenant, message=f"No tenant {tenant}", param="tenant")


@router.get("", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_static("index.html"), headers=_NO_STORE)


@router.get("/static/{name}")
async def dashboard_asset(name: str) -> Response:
    if name not in _ASSETS:
        raise NotFound("asset", name, message=f"No dashboard file {name}", param="name")
    return Response(_static(name), media_type=_ASSETS[name], headers=_NO_STORE)


class SessionRequest(LazyModel):
    key: str = Field(min_length=1, max_length=1000)


@router.post("/session")
async def sign_in(request: Request, tenancy: TenancyDep) -> JSONResponse:
    """The page's sign-in: the key is checked (401 if unknown) and kept in the cookie. JSON only:
    another site's form cannot send it, and its script would need a CORS grant it never gets."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise InvalidRequest("Send the key as JSON: Content-Type: application/json")
    try:
        key = SessionRequest.model_validate_json(await request.body()).key
    except ValidationError as exc:
        raise InvalidRequest('The body is {"key": "<API key>"}', param="key") from exc
    caller = tenancy.caller(key)
    answer = JSONResponse({"tenant": caller.tenant, "admin": caller.admin}, headers=_NO_STORE)
    # No max_age: it ends with the browser's session. Not Secure: the simulator speaks plain
    # HTTP on a laptop, where a Secure cookie would never be sent back.
    answer.set_cookie(
        SESSION_COOKIE, key, path="/_sim/ui", httponly=True, samesite="strict", secure=False
    )
    return answer


@router.delete("/session")
async def sign_out() -> JSONResponse:
    answer = JSONResponse({"signed_in": False}, headers=_NO_STORE)
    answer.delete_cookie(SESSION_COOKIE, path="/_sim/ui", httponly=True, samesite="strict")
    return answer


@router.get("/api/snapshot")
@off_loop
def dashboard_snapshot(
    src: SourcesDep,
    settings: SettingsDep,
    viewer: ViewerDep,
    tenant: TenantQuery = None,
    job: JobQuery = None,
) -> dict[str, Any]:
    return views.snapshot(
        src, clock_mode=settings.clock.value, tenant=tenant, job_id=job, only=_only(viewer)
    )


@router.get("/api/tenants")
@off_loop
def dashboard_tenants(src: SourcesDep, viewer: ViewerDep) -> dict[str, Any]:
    return {"object": "list", "data": views.tenants(src, _only(viewer))}


@router.get("/api/tenants/{tenant}")
@off_loop
def dashboard_tenant(tenant: str, src: SourcesDep, viewer: ViewerDep) -> dict[str, Any]:
    _may_see(viewer, tenant)
    _known_tenant(src, tenant)
    return {
        "id": tenant,
        "files": views.files(src, tenant),
        "jobs": views.jobs(src, tenant),
    }


@router.get("/api/tenants/{tenant}/jobs/{id}")
@off_loop
def dashboard_job(tenant: str, id: str, src: SourcesDep, viewer: ViewerDep) -> dict[str, Any]:
    _may_see(viewer, tenant)
    return views.job_detail(src, tenant, id)


@router.get("/api/faults")
async def dashboard_faults(src: SourcesDep, viewer: ViewerDep) -> dict[str, Any]:
    return views.faults(src, _only(viewer))


@router.get("/events")
async def dashboard_events(
    src: SourcesDep,
    settings: SettingsDep,
    viewer: ViewerDep,
    tenant: TenantQuery = None,
    job: JobQuery = None,
) -> Response:
    only = _only(viewer)  # checked once, when the page connects: a stream is one sitting

    def read() -> bytes:
        view = views.snapshot(
            src, clock_mode=settings.clock.value, tenant=tenant, job_id=job, only=only
        )
        return json_body(view)

    return snapshot_stream(read)
