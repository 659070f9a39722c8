"""The generic layer: any operation of the spec, answered from the spec alone.

The fallback for the operations nothing claims, not a third way to add one (a typed route or a
family row is: see ``routing``); it shares their request check and error shaping, which live
here. One catch-all route under the spec's ``/v1``, registered after every domain router, so it
only sees requests no router of the app claimed. It finds the operation in the index, asks for a
key where the spec secures it, validates the request (400 naming the field) and answers the
documented success status with a body built from the spec's examples and schemas (see
``synth``), in the content type the request asks for (see ``media``). It keeps no state: in
examples mode it is the whole API, as Prism's or Steady's mock is; in stateful mode it stands in
for the operations no domain module simulates yet.

Error bodies are Together's, unless the operation documents another shape for that status
(``{"error": "..."}`` for batches, a flat object for the queue): then the nearest shape that
validates is sent, so every answer matches the spec's schema for its status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from mock_server.core.errors import TogetherError
from mock_server.core.limits import form_limits, limits_of
from mock_server.core.tenancy import Tenancy
from mock_server.settings import Settings
from mock_server.spec.index import OperationIndex, Reply, SpecOperation, operation_index
from mock_server.spec.lazy import LazyRoutes
from mock_server.spec.media import binary_body, is_json

# synth and validation import jsonschema (~0.1 s): the simulator loads them on the first request
# the generic layer answers, so they cost its startup nothing.
if TYPE_CHECKING:
    from mock_server.spec.validate import ValidRequest

__all__ = [
    "FORMS",
    "PREFIX",
    "error_response",
    "index_of",
    "install",
    "operations_of",
    "routing_table",
    "validated_request",
]

PREFIX = "/v1"  # the path of the spec's ``servers`` URL (operations_of checks it)
# ... and of the servers some operations name for themselves (videos and the project API:
# ``/v2``; the overlay's whoami of SDK 3.x: the root, ``/v3/whoami``).
_PREFIXES = (PREFIX, "/v2", "/v3")
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def operations_of(settings: Settings) -> OperationIndex:
    index = operation_index(settings.spec_path())
    assert all(op.route.startswith(tuple(p + "/" for p in _PREFIXES)) for op in index.operations), (
        "servers moved"
    )
    if settings.spec is not None:  # a pinned spec's hash vouches for it; another is checked now
        index.resolve_all()
    return index


def index_of(app: Any) -> OperationIndex:
    """The app's index, found once: finding the spec hashes it to check the pin."""
    index: OperationIndex | None = getattr(app.state, "operations", None)
    if index is None:
        index = app.state.operations = operations_of(app.state.settings)
    return index


async def _answer(request: Request) -> Response:
    index = index_of(request.app)
    path = request.url.path
    found = index.match(request.method, path)
    if found is None:
        methods = index.methods_for(path) or _routed_methods(request.app.router.routes, path)
        if methods:
            raise StarletteHTTPException(405, headers={"Allow": ", ".join(methods)})
        raise StarletteHTTPException(404)
    op, path_params = found
    try:
        if op.secured:
            tenancy: Tenancy = request.app.state.tenancy
            tenancy.authenticate(request.headers.get("authorization", ""))
        valid = await validated_request(request, op, path_params)
        return _success(request, op, valid)
    except TogetherError as exc:
        return error_response(op, exc)
    finally:
        await request.close()  # a form's spooled files


async def validated_request(
    request: Request, op: SpecOperation, path: dict[str, str]
) -> ValidRequest:
    """The request's path, query and body, read and checked against ``op`` (a 400 naming the
    field otherwise): ``SpecRoute`` checks every routed operation with it, as this layer does.

    A form stays open, its files rewound, so that a route may read it again (Starlette keeps
    the parsed form on the request): the caller closes it with ``request.close()``."""
    from mock_server.spec.validate import FormFile, ValidRequest, plain_path_only, validate_request

    if op.body is None and not request.scope["query_string"] and plain_path_only(op):
        # Nothing the spec could refuse (a job poll): the check's answer, without the check.
        return ValidRequest(dict(path), {}, None, None)
    content_type = request.headers.get("content-type")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    form: dict[str, list[Any]] | None = None
    raw = b""
    if op.body is not None and media in FORMS:
        form = {}
        for name, value in (await request.form(**form_limits(request.scope))).multi_items():
            if isinstance(value, UploadFile):
                item: Any = FormFile(value.filename or "", value.content_type or "", value.file)
            else:
                item = value
            form.setdefault(name, []).append(item)
    elif op.body is not None:  # an operation without a body ignores one: not even read
        raw = await request.body()
    query = request.scope["query_string"]
    return validate_request(
        op,
        path=path,
        query=parse_qs(query.decode("latin-1"), keep_blank_values=True) if query else {},
        headers=request.headers,  # case-insensitive, as header parameters are named
        content_type=content_type,
        raw_body=raw,
        form=form,
        max_depth=limits_of(request.scope).max_json_depth,
    )


def _success(request: Request, op: SpecOperation, valid: ValidRequest) -> Response:
    from mock_server.spec.examples import success_answer

    accept = request.headers.get("accept", "")
    return success_answer(op, valid, accept, str(request.base_url)).response()


def error_response(op: SpecOperation, exc: TogetherError) -> JSONResponse:
    """Together's error body, reshaped to what ``op`` documents for the status where it differs."""
    body: Any = exc.body()
    reply: Reply | None = op.reply_for(exc.status)
    schema = next(
        (s for t, s in (reply.content.items() if reply else ()) if is_json(t) and s), None
    )
    if schema is not None:
        error = {k: v for k, v in body["error"].items() if v is not None}
        for candidate in (body, {"error": error}, {"error": exc.message}, error, exc.message):
            if _fits(candidate, schema):
                body = candidate
                break
    return JSONResponse(body, status_code=exc.status, headers=exc.headers or None)


def _fits(candidate: Any, schema: dict[str, Any]) -> bool:
    """Valid, and naming only fields the schema declares where it declares any (an object
    schema without ``required`` would otherwise take any body at all)."""
    from mock_server.spec.validate import is_valid

    declared = schema.get("properties")
    if isinstance(candidate, dict) and declared is not None and not set(candidate) <= set(declared):
        return False
    return is_valid(candidate, schema)


async def _blob(request: Request) -> Response:
    """Where the spec's redirects (307 to a signed URL) point: bytes, no key, as a signed URL."""
    return Response(binary_body("application/octet-stream"), media_type="application/octet-stream")


_FALLBACK_NAME = "together_sim_generic"


def install(app: FastAPI) -> None:
    """Add the catch-all routes. Call it after every router: routes match in order."""
    app.router.routes.append(Route("/_examples/blob", _blob, methods=["GET"]))
    for prefix in _PREFIXES:
        app.router.routes.append(
            Route(prefix + "/{rest:path}", _answer, methods=_METHODS, name=_FALLBACK_NAME)
        )


def routing_table(app: FastAPI) -> list[tuple[SpecOperation, str]]:
    """Each spec operation with what serves it in ``app``: ``"generic"`` (this module), the
    ``package.module.function`` of the domain route that claims it, or ``"none"``."""
    return [
        (op, _server(app.router.routes, op.method, op.concrete_path()))
        for op in operations_of(app.state.settings).operations
    ]


def _routed_methods(routes: Any, path: str) -> list[str]:
    """The methods the app's own routes take on a path the spec does not know (for a 405)."""
    return [
        method for method in _METHODS if _server(routes, method, path) not in ("generic", "none")
    ]


def _server(routes: Any, method: str, path: str) -> str:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in routes:
        if route.matches(scope)[0] is not Match.FULL:
            continue
        if getattr(route, "name", None) == _FALLBACK_NAME:
            return "generic"
        included = getattr(route, "original_router", None)  # FastAPI >= 0.165 nests routers
        if included is not None:
            return _server(included.routes, method, path)
        if isinstance(route, LazyRoutes):  # a group built on first use: its routes, loaded
            return _server(route.routes, method, path)
        endpoint = getattr(route, "endpoint", None)
        module = getattr(endpoint, "__module__", "").removeprefix("mock_server.")
        return f"{module}.{getattr(endpoint, '__name__', 'endpoint')}"
    return "none"
