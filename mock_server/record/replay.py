"""``together-sim serve --replay DIR``: answers from a cassette instead of simulating.

Each request is reduced to the same key the recording's requests were (``matching.py``) and
answered with the recorded status, headers and body: JSON as recorded, SSE re-sent event by
event, binary bodies streamed from their files. A recorded redirect is pointed back at this
server (``locations.py``), so the upload's PUT lands here too. A request nothing recorded
answers gets a 404 in Together's error shape with ``code: "no_recorded_response"`` and the
nearest recorded request, and ``x-should-retry: false`` so the 3.x SDK does not retry it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from mock_server.core.errors import error_body
from mock_server.record.bodies import Tap, render_sse, request_body, wants_file
from mock_server.record.cassette import Cassette, Exchange, load_cassette
from mock_server.record.locations import split_upstream, through
from mock_server.record.matching import Matcher, Miss, key_of
from mock_server.record.redact import Redactor

__all__ = ["create_replay_app"]

# Recomputed for the body we send, or meaningless off the original connection.
_DROPPED_HEADERS = frozenset(
    {"connection", "content-encoding", "content-length", "keep-alive", "transfer-encoding"}
)
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_CHUNK = 1 << 20


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _not_found(miss: Miss) -> JSONResponse:
    return JSONResponse(
        error_body(miss.message, "invalid_request_error", code="no_recorded_response"),
        status_code=404,
        headers={"x-should-retry": "false"},
    )


def _answer(exchange: Exchange, cassette: Cassette, base: str) -> Response:
    recorded = exchange.response
    if recorded is None:  # the upstream could not be reached while recording
        return JSONResponse(
            error_body(
                f"together-sim replay: {exchange.line} got no response while recording "
                f"({exchange.error})",
                "server_error",
                code="upstream_unreachable",
            ),
            status_code=502,
        )
    headers = {
        name: through(value, base=base, target=cassette.target) if name == "location" else value
        for name, value in recorded.headers.items()
        if name not in _DROPPED_HEADERS
    }
    headers["x-together-sim-replay"] = str(exchange.seq)
    body = recorded.body
    kind = body.get("kind")
    if kind == "json":
        content = json.dumps(body["json"]).encode()
        return Response(content, status_code=recorded.status, headers=headers)
    if kind == "text":
        return Response(str(body["text"]).encode(), status_code=recorded.status, headers=headers)
    if kind == "sse":
        events = list(body["events"])

        async def sse() -> AsyncIterator[bytes]:
            for event in events:
                yield render_sse([event])

        return StreamingResponse(sse(), status_code=recorded.status, headers=headers)
    if kind == "binary":
        path = cassette.body_file(body)
        if path is None or not path.is_file():
            why = body.get("note") or "its body was not kept"
            return JSONResponse(
                error_body(
                    f"together-sim replay: {exchange.line} was recorded, but {why}",
                    "server_error",
                    code="no_recorded_body",
                ),
                status_code=501,
                headers={"x-should-retry": "false"},
            )
        headers["content-length"] = str(path.stat().st_size)
        return StreamingResponse(_file_chunks(path), status_code=recorded.status, headers=headers)
    return Response(b"", status_code=recorded.status, headers=headers)


def create_replay_app(cassette_dir: Path) -> Starlette:
    """A server answering from the cassette in ``cassette_dir``."""
    cassette = load_cassette(cassette_dir)
    matcher = Matcher(cassette.exchanges)
    redactor = Redactor()  # redacts by name only, as the recording did: matching compares alike

    async def replay(request: Request) -> Response:
        upstream = split_upstream(request.url.path)
        origin, path = upstream if upstream else (None, request.url.path)
        content_type = request.headers.get("content-type", "")
        tap = Tap(redactor=redactor)  # memory up to a limit, then only hashed: never a file
        async for chunk in request.stream():
            tap.feed(chunk)
        body = await request_body(
            content_type, tap.close(as_file=wants_file(content_type)), redactor, cassette.root
        )
        found = matcher.match(
            key_of(request.method, origin, path, request.query_params.multi_items(), body)
        )
        if isinstance(found, Miss):
            return _not_found(found)
        return _answer(found, cassette, str(request.base_url))

    app = Starlette(routes=[Route("/{path:path}", replay, methods=_METHODS)])
    app.state.cassette = cassette
    app.state.matcher = matcher
    return app
