"""``together-sim record``: a recording HTTP proxy in front of the real service.

Each request is forwarded to the target with the client's own headers (its Authorization
included: the key goes upstream and nowhere else) and streamed both ways, so an SSE chat arrives
chunk by chunk and a large download or upload passes with a constant amount of memory. Its
exchange is written to the cassette when its response ends. A redirect to another host (the
presigned upload URL) is rewritten to come back through the proxy; see ``locations.py``.
When the proxy shuts down it writes the drift report beside the exchanges.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from mock_server.core.errors import error_body
from mock_server.core.timefmt import iso
from mock_server.record.bodies import MEMORY_LIMIT, Tap, request_body, response_body, wants_file
from mock_server.record.cassette import (
    CassetteWriter,
    Exchange,
    RecordedRequest,
    RecordedResponse,
)
from mock_server.record.locations import origin_of, split_upstream, through
from mock_server.record.redact import Redactor, is_secret_name

__all__ = ["KEEP_REQUEST_BODIES_UP_TO", "create_record_app"]

log = logging.getLogger("together_sim.record")

KEEP_REQUEST_BODIES_UP_TO = 8 << 20  # uploads up to this size are kept, to re-send in the drift
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "expect",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The request headers a cassette keeps (secret ones are kept too, redacted, to show they were
# sent). Others (x-stainless-os, …) describe the client's machine and matter to no answer.
_RECORDED_REQUEST_HEADERS = frozenset(
    {
        "accept",
        "content-type",
        "content-length",
        "if-range",
        "range",
        "user-agent",
        "x-stainless-retry-count",
        "x-together-client-user-agent",
    }
)
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _now() -> str:
    return iso(datetime.now(UTC))


class _Recorder:
    def __init__(
        self,
        target: str,
        out: Path,
        *,
        keep_up_to: int,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.target = origin_of(target)
        self.out = out
        self.keep_up_to = keep_up_to
        self.redactor = Redactor()
        self.redirected_to: set[str] = set()  # origins a Location sent the client to
        self.writer = CassetteWriter(out, target=self.target, started_at=_now())
        self.client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            timeout=httpx.Timeout(60.0, connect=10.0, read=600.0, write=600.0),
        )

    def _recorded_request_headers(self, request: Request) -> dict[str, str]:
        items = request.headers.items()
        chosen = [(k, v) for k, v in items if k in _RECORDED_REQUEST_HEADERS or is_secret_name(k)]
        return self.redactor.headers(chosen)

    async def forward(self, request: Request) -> Response:
        # The raw path, not the decoded one: a presigned URL's signature covers its encoding.
        raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        upstream = split_upstream(raw)
        origin, raw_path = upstream if upstream else (self.target, raw)
        if upstream and origin not in self.redirected_to:
            # Only hosts the target itself redirected to: the proxy is no open relay.
            message = f"together-sim record: {origin} is not a host the target redirected to"
            return JSONResponse(error_body(message, "invalid_request_error"), status_code=403)
        seq = self.writer.next_seq()
        started, clock = _now(), time.monotonic()
        self.redactor.learn_headers(request.headers.items())
        path = unquote(raw_path)
        url = origin + raw_path
        if query_string := request.scope.get("query_string", b""):
            url += "?" + query_string.decode("latin-1")
        content_type = request.headers.get("content-type", "")
        request_tap = Tap(
            redactor=self.redactor,
            file=self.writer.body_path(seq, "request"),
            file_limit=self.keep_up_to,
        )
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers

        async def request_chunks() -> AsyncIterator[bytes]:
            async for chunk in request.stream():
                request_tap.feed(chunk)
                yield chunk

        headers = [(k, v) for k, v in request.headers.items() if k not in _HOP_BY_HOP]
        outgoing = self.client.build_request(
            request.method, url, headers=headers, content=request_chunks() if has_body else None
        )

        async def recorded_request() -> RecordedRequest:
            return RecordedRequest(
                method=request.method,
                origin=origin if upstream else None,
                path=path,
                query=self.redactor.query(request.query_params.multi_items()),
                headers=self._recorded_request_headers(request),
                body=await request_body(
                    content_type,
                    request_tap.close(as_file=wants_file(content_type)),
                    self.redactor,
                    self.out,
                    stem=self.writer.body_path(seq, "request"),
                ),
            )

        try:
            answer = await self.client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            message = f"together-sim record: the upstream {origin} failed: {type(exc).__name__}"
            recorded = await recorded_request()
            self.writer.write(
                Exchange(seq, started, _ms(clock), recorded, None, f"{type(exc).__name__}: {exc}")
            )
            return JSONResponse(
                error_body(message, "server_error", code="upstream_unreachable"), status_code=502
            )
        return self._relay(answer, seq, started, clock, recorded_request, request)

    def _relay(
        self,
        answer: httpx.Response,
        seq: int,
        started: str,
        clock: float,
        recorded_request: Callable[[], Awaitable[RecordedRequest]],
        request: Request,
    ) -> StreamingResponse:
        content_type = answer.headers.get("content-type", "")
        # Data (a download) streams to disk from the first byte; a message stays in memory.
        tap = Tap(
            redactor=self.redactor,
            file=self.writer.body_path(seq, "response"),
            memory_limit=0 if wants_file(content_type) else MEMORY_LIMIT,
        )
        decoded = "content-encoding" in answer.headers  # aiter_bytes() undoes it for the client
        out_headers: list[tuple[str, str]] = []
        for name, value in answer.headers.multi_items():
            lowered = name.lower()
            if lowered in _HOP_BY_HOP or (
                decoded and lowered in ("content-encoding", "content-length")
            ):
                continue
            if lowered == "location":
                if value.startswith(("http://", "https://")):
                    self.redirected_to.add(origin_of(value))
                value = through(value, base=str(request.base_url), target=self.target)
            out_headers.append((name, value))

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in answer.aiter_bytes():
                    tap.feed(chunk)
                    yield chunk
            finally:
                await answer.aclose()
                await self._finish(seq, started, clock, recorded_request, answer, tap, content_type)

        response = StreamingResponse(relay(), status_code=answer.status_code)
        response.raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out_headers
        ]
        return response

    async def _finish(
        self,
        seq: int,
        started: str,
        clock: float,
        recorded_request: Callable[[], Awaitable[RecordedRequest]],
        answer: httpx.Response,
        tap: Tap,
        content_type: str,
    ) -> None:
        try:
            recorded = await recorded_request()
            headers = [
                (k, v) for k, v in answer.headers.multi_items() if k.lower() not in _HOP_BY_HOP
            ]
            response = RecordedResponse(
                status=answer.status_code,
                headers=self.redactor.headers(headers),
                body=response_body(
                    content_type,
                    tap.close(as_file=wants_file(content_type)),
                    self.redactor,
                    self.out,
                ),
            )
            self.writer.write(Exchange(seq, started, _ms(clock), recorded, response))
        except Exception:  # a broken recording must not break the client's session
            log.exception("could not record exchange #%d", seq)


def _ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)


def create_record_app(
    target: str,
    out: Path,
    *,
    keep_up_to: int = KEEP_REQUEST_BODIES_UP_TO,
    transport: httpx.AsyncBaseTransport | None = None,
    drift: bool = True,
) -> Starlette:
    """The recording proxy for ``target`` (an origin), writing its cassette into ``out``.
    ``transport`` replaces the network (tests); ``drift`` writes the report on shutdown."""
    recorder = _Recorder(target, out, keep_up_to=keep_up_to, transport=transport)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await recorder.client.aclose()
        if drift:
            from mock_server.record.report import write_report

            try:
                await run_in_threadpool(write_report, out)
            except Exception:
                log.exception("could not write the drift report for %s", out)

    app = Starlette(
        routes=[Route("/{path:path}", recorder.forward, methods=_METHODS)], lifespan=lifespan
    )
    app.state.recorder = recorder
    return app
