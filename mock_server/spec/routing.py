"""The two ways to add an operation of the spec, and the one gate both go through.

1. A typed route in the service's folder: an ``APIRouter(route_class=SpecRoute)`` and a
   decorated handler; it reads the checked request as ``SpecRequestDep`` or a pydantic body.
2. A row in a family table (``families/``): ``Operation("GET /things/{id}", action)``, which
   ``families/routes.py`` mounts on a ``SpecRoute`` router, so the action gets a checked ``Call``.

Either way ``SpecRoute`` finds the request's operation in the spec, asks for the key, checks the
path, query and body against it (a 400 naming the field; multipart files as ``FormFile``), and
renders every ``TogetherError`` (a pydantic failure too) in the shape the operation documents
for the status: Together's body, or ``{"error": "..."}`` for batches. So a contract suite's
negative cases are refused the same way everywhere. What neither claims falls to the generic
layer (``fallback``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from mock_server.core.errors import InvalidRequest, TogetherError
from mock_server.core.tenancy import TENANT
from mock_server.spec.fallback import error_response, index_of, validated_request
from mock_server.spec.index import SpecOperation

__all__ = [
    "SpecRequest",
    "SpecRequestDep",
    "SpecRoute",
    "invalid_request",
    "operation_of",
    "spec_request",
]

# Where SpecRoute leaves what it found for the handler and its dependencies (the scope is the
# one thing all of them share).
_FOUND = "together_sim.spec_match"
_VALID = "together_sim.spec_request"


class SpecRequest(Protocol):
    """``validation.ValidRequest``, named here without importing jsonschema at startup."""

    @property
    def path(self) -> Mapping[str, Any]: ...
    @property
    def query(self) -> Mapping[str, Any]: ...
    @property
    def body(self) -> Any: ...


def _match(request: Request) -> tuple[SpecOperation, dict[str, str]] | None:
    scope = request.scope
    if _FOUND not in scope:
        scope[_FOUND] = index_of(request.app).match(request.method, scope["path"])
    found: tuple[SpecOperation, dict[str, str]] | None = scope[_FOUND]
    return found


def operation_of(request: Request) -> SpecOperation | None:
    found = _match(request)
    return found[0] if found else None


def spec_request(request: Request) -> SpecRequest:
    """The request as ``SpecRoute`` checked it, for a handler that takes only the request."""
    valid: SpecRequest | None = request.scope.get(_VALID)
    assert valid is not None, f"{request.method} {request.url.path}: not a SpecRoute's operation"
    return valid


def invalid_request(errors: Sequence[Any]) -> InvalidRequest:
    """pydantic's first complaint as Together's 400, naming the field the way the spec check
    does (``("body", "training_type", "lora_r")`` becomes ``training_type.lora_r``)."""
    first = errors[0] if errors else {"loc": (), "msg": "Invalid request"}
    if first.get("type") == "json_invalid":  # its loc is a character offset, not a field
        return InvalidRequest("The request body is not valid JSON", param=None)
    loc = tuple(first.get("loc", ()))
    param = ".".join(str(p) for p in loc if not _not_a_field(p)) or None
    where = f"{param}: " if param else ""
    return InvalidRequest(f"{where}{first.get('msg', 'Invalid request')}", param=param)


# Where a value failed every member of a union (``Int64 | Literal["max"]``), pydantic adds the
# member it tried to the location: ``batch_size.constrained-int``. A client wants the field.
_UNION_MEMBER = re.compile(r"^(?:int|float|str|bool|bytes|dict|list|none)$|[-\[(]")


def _not_a_field(part: object) -> bool:
    if isinstance(part, int):  # a list index is part of the field's path: messages.3.role
        return False
    return part in ("body", "query", "path", "header") or bool(_UNION_MEMBER.search(str(part)))


class SpecRoute(APIRoute):
    """A route that only runs its handler for a request its operation accepts. A route of the
    same router that is no spec operation (the SDKs' 302 upload, ``/v3/whoami``) runs as a
    plain ``APIRoute``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        templated = "{" in self.path

        async def handle(request: Request) -> Response:
            found = _match(request)
            if found is None:
                # A path the spec has, reached through one of our templates with a method it
                # does not take (DELETE /v1/deployments/secrets, not /deployments/{id}): the
                # service's 405. Anything else is one of our own routes (the SDKs' 302 upload).
                methods = templated and index_of(request.app).methods_for(request.url.path)
                if methods:
                    raise StarletteHTTPException(405, headers={"Allow": ", ".join(methods)})
                return await handler(request)
            op, path = found
            try:
                if op.secured:  # the key first, as the service checks it: a 401 before a 400
                    request.scope[TENANT] = request.app.state.tenancy.authenticate(
                        request.headers.get("authorization", "")
                    )
                request.scope[_VALID] = await validated_request(request, op, path)
                try:
                    return await handler(request)
                except RequestValidationError as exc:  # a typed view stricter than the spec
                    raise invalid_request(exc.errors()) from None
            except TogetherError as exc:
                return error_response(op, exc)
            finally:
                if op.body is not None:
                    await request.close()  # the form's spooled files, once the handler is done

        return handle


async def _spec_request(request: Request) -> SpecRequest:
    return spec_request(request)


SpecRequestDep = Annotated[SpecRequest, Depends(_spec_request)]
