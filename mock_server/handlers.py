"""What both kinds of app (the simulator and examples mode) answer the same way outside the
API's routes. Every failure is rendered in Together's body (a ``{"detail": ...}`` breaks the
1.5.x SDK), whether a service raised it, FastAPI refused a request, no route matched or the
code broke; and the pinned spec is served at ``/openapi.json`` and ``/docs``, with ``servers``
pointed at this server, instead of FastAPI's generated schema.

What the code did not expect is answered by ``AnswerUncaught``, not by Starlette's
``ServerErrorMiddleware``: that one sends the 500 and then raises the exception again, for the
server to log, and uvicorn closes a connection whose request raised, so the client's next request
on that keep-alive connection met a reset. Here the exception is logged and answered, and the
connection stays open; only an exception after the answer began (a stream cut short) still
closes it, as nothing else can tell the client the body is incomplete.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server import __version__
from mock_server.core.errors import (
    InsufficientStorage,
    ServiceUnavailable,
    TogetherError,
    error_body,
    is_busy,
    is_disk_full,
)
from mock_server.core.offload import off_loop
from mock_server.settings import Settings
from mock_server.spec.routing import invalid_request

__all__ = ["AnswerUncaught", "install_error_handlers", "install_root", "install_spec", "wants_html"]

log = logging.getLogger("together_sim")

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TogetherError)
    async def together_error(request: Request, exc: TogetherError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # SpecRoute shapes a spec operation's own; these are the other routes' (/_sim, the
        # SDKs' upload steps), in the same words.
        invalid = invalid_request(exc.errors())
        return JSONResponse(invalid.body(), status_code=invalid.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"No route for {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        return JSONResponse(
            error_body(message, _STATUS_TYPES.get(exc.status_code, "server_error")),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)  # what gets past AnswerUncaught (none of ours)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _unexpected_answer(request.method, request.url.path, exc)


def _unexpected_answer(method: str, path: str, exc: Exception) -> JSONResponse:
    """An exception no route answered, in Together's body: a full disk (507) or a database
    another process holds locked (503, to retry) wherever they showed, else a 500."""
    if is_disk_full(exc):  # wherever the disk filled up (archives, batch output, SQLite)
        log.error("disk full on %s %s: %s", method, path, exc)
        full = InsufficientStorage(
            "No space left on device: the simulator's disk is full. Free space under its "
            "data dir and send the request again."
        )
        return JSONResponse(full.body(), status_code=full.status)
    if is_busy(exc):  # a lock the store's own wait did not cover (it answers its own 503)
        busy = ServiceUnavailable(
            f"The simulator's database is locked by another process ({exc}). Send the request "
            "again."
        )
        return JSONResponse(busy.body(), status_code=busy.status, headers=busy.headers)
    log.exception("unhandled error on %s %s", method, path, exc_info=exc)
    return JSONResponse(
        error_body(f"Internal error in together-sim: {type(exc).__name__}: {exc}", "server_error"),
        status_code=500,
    )


class AnswerUncaught:
    """Around the routes (and the kept views): an exception from inside is answered (see the
    module's docstring) and goes no further, so uvicorn keeps the connection. The fault injection
    and the request guard sit outside it: they answer their own, and in process a fault's reset
    is an exception raised on purpose. A pure ASGI middleware: it costs a request one wrapped
    ``send``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:  # half an answer is out: closing the connection is what ends it
                raise
            answer = _unexpected_answer(scope["method"], scope["path"], exc)
            await answer(scope, receive, send)


def install_spec(app: FastAPI, settings: Settings) -> None:
    def served(request: Request) -> dict[str, Any]:
        from openapi import spec as pinned  # here, not above: PyYAML costs ~5% of startup
        from openapi.overlaid import overlaid_spec_at

        return pinned.spec_for_server(str(request.base_url), overlaid_spec_at(settings.spec_path()))

    @app.get("/openapi.json", include_in_schema=False)
    @off_loop  # the first one reads and parses the spec
    def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(served(request))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="together-sim")


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


def install_root(app: FastAPI) -> None:
    """``/``: the dashboard for a browser, where the service's parts are for anything else."""

    @app.get("/", include_in_schema=False)
    async def root(request: Request) -> Response:
        if wants_html(request.headers.get("accept", "")):
            return RedirectResponse("/_sim/ui", status_code=307)
        return JSONResponse(
            {
                "service": "together-sim",
                "version": __version__,
                "api": "/v1",
                "docs": "/docs",
                "controls": "/_sim",
                "dashboard": "/_sim/ui",
            }
        )
