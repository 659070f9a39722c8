"""Examples mode's front door: the spec's operations answered before FastAPI's routing runs.

In examples mode every request for an operation is the same few steps (find the operation, check
the key, read and validate the request, send the kept answer, see ``examples``), and a CI suite
sends a thousand of them. Going through FastAPI's router, its exception and exit-stack layers and
a Starlette ``Request`` costs more than those steps themselves, so this ASGI middleware takes
them straight from the ASGI scope, with the same functions the catch-all route
(``fallback``) uses, so the answers are the same bytes either way. Validating a request
and building its answer are pure functions of its method, path, query, content type, ``Accept``
and body, so the answer to each such request is kept (bounded), and an identical request (a CI
suite's sync, async, raw and streamed variants of one call) is answered from it without
validating again; the key is checked every time all the same. Whatever it is not made
for goes on to the app unchanged, body unread: paths that are no operation (404, 405,
``/openapi.json``), multipart and form bodies (Starlette's parser reads them), and WebSocket and
redirect operations.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.core.errors import InvalidRequest, TogetherError
from mock_server.core.limits import limits_of
from mock_server.core.tenancy import Tenancy
from mock_server.settings import Settings
from mock_server.spec.examples import Answer, success_answer
from mock_server.spec.fallback import FORMS, error_response
from mock_server.spec.index import OperationIndex, SpecOperation
from mock_server.spec.validate import validate_request

__all__ = ["ExamplesFront"]

_KEPT_MAX = 4096  # requests whose answers are kept, the oldest forgotten first
_KEPT_BODY_MAX = 64 * 1024  # a larger request body is validated every time instead


class ExamplesFront:
    def __init__(
        self, app: ASGIApp, *, settings: Settings, index: OperationIndex, tenancy: Tenancy
    ) -> None:
        self.app = app
        self.settings = settings
        self.tenancy = tenancy
        self.index = index
        self.kept: dict[tuple[object, ...], Answer] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self.index.match(scope["method"], scope["path"])
        # ASGI header names are lower case; the last of a repeated header wins, as in the route.
        headers = _Headers(scope["headers"])
        if found is None or not _served_here(found[0], headers.get("content-type")):
            await self.app(scope, receive, send)
            return
        op, path = found
        try:
            if op.secured:
                self.tenancy.authenticate(headers.get("authorization") or "")
            body = await _body(receive)
            answer = self._answer(op, scope, path, headers, body)
        except TogetherError as exc:
            await error_response(op, exc)(scope, receive, send)
            return
        start = {"type": "http.response.start", "status": answer.status}
        await send({**start, "headers": answer.raw_headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _answer(
        self, op: SpecOperation, scope: Scope, path: dict[str, str], headers: _Headers, body: bytes
    ) -> Answer:
        """The answer to this request, kept by everything that can change it: an identical
        request (a CI suite's sync, async, raw and streamed variants) skips validation too."""
        declared = [p.name.lower() for p in op.parameters if p.location == "header"]
        content_type, accept = headers.get("content-type"), headers.get("accept") or ""
        key = (
            scope["method"],
            scope["path"],
            scope["query_string"],
            content_type,
            accept,
            tuple(headers.get(name) for name in declared),
            body,
        )
        answer = self.kept.get(key)
        if answer is None:
            valid = validate_request(
                op,
                path=path,
                query=parse_qs(scope["query_string"].decode(), keep_blank_values=True),
                headers=headers.all() if declared else {},
                content_type=content_type,
                raw_body=body,
                max_depth=limits_of(scope).max_json_depth,
            )
            answer = success_answer(op, valid, accept, base_url="")
            if len(body) <= _KEPT_BODY_MAX:
                if len(self.kept) >= _KEPT_MAX:
                    del self.kept[next(iter(self.kept))]  # the oldest
                self.kept[key] = answer
        return answer


class _Headers:
    """The scope's headers, each decoded only when asked for (a client sends a dozen; an
    answer reads three)."""

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        self.raw = dict(raw)

    def get(self, name: str) -> str | None:
        value = self.raw.get(name.encode("latin-1"))
        return None if value is None else value.decode("latin-1")

    def all(self) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self.raw.items()}


def _served_here(op: SpecOperation, content_type: str | None) -> bool:
    """JSON or no body, and a plain answer: forms and redirects (whose ``Location`` needs the
    request's base URL) and WebSocket operations take the route."""
    if op.body is not None and _media(content_type) in FORMS:
        return False
    return op.success.status[:1] == "2"


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidRequest("The client went away before sending the whole body")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
