"""The routes of the stateful families: one handler per spec operation, built from the families'
tables (``families/table.py``), and the signed downloads they hand out.

A row of a table is one of the two ways to add an operation (``spec/routing``): the handlers are
mounted on a ``SpecRoute`` router, which asks for the key, checks the request against the spec (a
400 naming the field) and renders errors in the shape the operation documents for their status
(Together's body, or the queue's flat one, or ``{"error": "..."}``), as it does for the typed
routes. A handler calls the family's action with a ``Call`` of the checked request and sends its
body with the documented success status. Paths are mounted as the spec writes them, most literal
segments first, so ``/deployments/secrets`` is never taken for ``/deployments/{id}``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from contextlib import nullcontext
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mock_server.core.errors import NotFound, TogetherError
from mock_server.core.offload import off_loop
from mock_server.core.tenancy import Tenancy
from mock_server.families.base import Answer, Call, Operation
from mock_server.families.engine import Resources
from mock_server.families.table import DOWNLOADS, OPERATIONS
from mock_server.files import downloads
from mock_server.spec.fallback import PREFIX
from mock_server.spec.routing import SpecRoute, operation_of, spec_request

__all__ = ["build_router", "router", "service"]


def service(app: FastAPI) -> Resources:
    """The app's ``Resources`` (made in ``app.py``)."""
    resources: Resources = app.state.services.resources
    return resources


def _specificity(operation: Operation) -> tuple[int, int]:
    segments = operation.path.strip("/").split("/")
    return (-sum(not s.startswith("{") for s in segments), -len(segments))


def _handler(operation: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        op = operation_of(request)
        if op is None or (op.method, op.path) != (operation.method, operation.path):
            raise StarletteHTTPException(404)  # the URL is another operation's, not this row's
        valid = spec_request(request)
        tenancy: Tenancy = request.app.state.tenancy
        tenant = tenancy.authenticate(request.headers.get("authorization", ""))
        call = Call(tenant, valid.path, valid.query, valid.body, str(request.base_url))
        resources = service(request.app)
        changes = operation.method != "GET"

        def act() -> Any:
            with resources.moment(), resources.changing() if changes else nullcontext():
                return operation.action(resources, call)

        result = await run_in_threadpool(act)  # the store, and what a family's action calls
        if isinstance(result, Answer):
            headers = dict(result.headers)
            return JSONResponse(result.body, status_code=result.status, headers=headers)
        status = int(op.success.status) if op.success.status.isdigit() else 200
        return JSONResponse(result, status_code=status)

    handle.__name__ = handle.__qualname__ = operation.handler_name
    return handle


def build_router(operations: Iterable[Operation]) -> APIRouter:
    built = APIRouter(route_class=SpecRoute)
    for operation in sorted(operations, key=_specificity):
        handle = _handler(operation)
        for path in (PREFIX + operation.path, *operation.also):
            built.add_api_route(
                path,
                handle,
                methods=[operation.method],
                name=operation.handler_name,
                include_in_schema=False,
            )
    built.add_api_route(
        downloads.PREFIX + "/{tenant}/{kind}/{ref}/{name}",
        signed_download,
        methods=["GET"],
        include_in_schema=False,
    )
    return built


@off_loop
def signed_download(
    request: Request, tenant: str, kind: str, ref: str, name: str, sig: str = ""
) -> Response:
    """What a URL a family handed out points to: no key, the signature instead."""
    resources = service(request.app)
    try:
        provide = DOWNLOADS.get(kind)
        if provide is None:
            raise NotFound("download", name, message="The download URL is invalid")
        downloads.verify(resources.store, tenant, kind, ref, name, sig)
        found = provide(resources, tenant, ref, name)
    except TogetherError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    if isinstance(found.content, bytes):
        disposition = {"Content-Disposition": f'attachment; filename="{_safe(name)}"'}
        return Response(found.content, media_type=found.media_type, headers=disposition)
    return FileResponse(found.content, media_type=found.media_type, filename=name)


def _safe(name: str) -> str:
    return re.sub(r'["\\\r\n]', "_", name)


router = build_router(OPERATIONS)
