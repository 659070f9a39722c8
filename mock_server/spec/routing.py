"""What the domain routes of the other API families share: the spec's own request checks and the
spec's own error shapes.

``SpecRequestDep`` is the request's path, query and body checked against its operation in the
spec, as the generic layer checks them (a 400 naming the field; multipart files as ``FormFile``),
so a route accepts exactly what the spec does and a contract suite's negative cases are refused
the same way everywhere. ``SpecRoute`` answers every ``TogetherError`` its handler or a
dependency raises (the key check included) in the shape the operation documents for the status:
Together's body where it documents ``ErrorData``, ``{"error": "..."}`` for the batch operations.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from mock_server.core.errors import TogetherError
from mock_server.spec.fallback import error_response, index_of, validated_request
from mock_server.spec.index import SpecOperation

__all__ = ["SpecRequest", "SpecRequestDep", "SpecRoute", "operation_of"]


class SpecRequest(Protocol):
    """``validation.ValidRequest``, named here without importing jsonschema at startup."""

    @property
    def path(self) -> Mapping[str, Any]: ...
    @property
    def query(self) -> Mapping[str, Any]: ...
    @property
    def body(self) -> Any: ...


def operation_of(request: Request) -> SpecOperation | None:
    found = index_of(request.app).match(request.method, request.url.path)
    return found[0] if found else None


class SpecRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except TogetherError as exc:
                op = operation_of(request)
                if op is None:
                    raise
                return error_response(op, exc)

        return handle


async def _spec_request(request: Request) -> SpecRequest:
    op = operation_of(request)
    assert op is not None, f"{request.method} {request.url.path} is not a spec operation"
    return await validated_request(request, op, dict(request.path_params))


SpecRequestDep = Annotated[SpecRequest, Depends(_spec_request)]
