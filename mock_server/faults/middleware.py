"""The ASGI middleware that carries out injected faults, outermost in the app.

It sits outside ``KeptJobViews`` (``fine_tuning/poll_front.py``), so a kept job body cannot
answer past a fault, and never touches ``/_sim``, so a test can always clear what it set. With no
rule installed it costs one attribute check per request.

A connection reset needs the connection itself, which ASGI does not hand to an app. Under uvicorn
the request runs in a task whose coroutine is uvicorn's ``RequestResponseCycle.run_asgi``, and
that cycle holds the transport: the reset sets ``SO_LINGER`` to zero and aborts it, so the
client gets an RST with no answer; a truncated body announces its full ``Content-Length``, sends
part of it and closes. Both then wait for uvicorn to see the disconnect, so it logs nothing.
In-process (Starlette's ``TestClient``, an httpx client) there is no socket: the same faults
raise the error httpx raises for them on a real socket (``ReadError``, ``RemoteProtocolError``),
which reaches the client through ``TestClient`` as it would from a transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import socket
import struct
from typing import Any, Protocol, cast

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.core.tenancy import bearer_key
from mock_server.faults.registry import Faults
from mock_server.faults.rules import FaultRule, SlowStream, status_answer

__all__ = ["FaultInjection"]


class FaultInjection:
    def __init__(self, app: ASGIApp, *, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.faults
        if scope["type"] != "http" or not faults.active or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        retry = headers.get(b"x-stainless-retry-count", b"")
        decide = functools.partial(
            faults.decide,
            scope["method"],
            scope["path"],
            tenant=_tenant(faults, headers.get(b"authorization", b"")),
            retry_count=int(retry) if retry.isdigit() else None,
        )
        # Shared rules count in the store (registry.py): in a worker thread, off the loop.
        _, decision = await to_thread.run_sync(decide) if faults.shared else decide()
        if decision.latency > 0:
            await asyncio.sleep(decision.latency)
        rule = decision.terminal
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.status is not None:
            await _answer(rule, send)
        elif rule.reset:
            await _reset(receive)
        elif rule.truncate is not None:
            await _truncated(self.app, scope, receive, send, rule.truncate)
        else:
            assert rule.slow_stream is not None
            await self.app(scope, receive, _slowly(send, rule.slow_stream))


def _tenant(faults: Faults, authorization: bytes) -> str | None:
    key = bearer_key(authorization.decode("latin-1"))
    return faults.tenant_of(key) if key is not None else None


async def _answer(rule: FaultRule, send: Send) -> None:
    status, headers, body = status_answer(rule)
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class _Transport(Protocol):
    """What is used of the connection: asyncio's transports and uvloop's (which do not derive
    from ``asyncio.BaseTransport``) both have it."""

    def get_extra_info(self, name: str) -> Any: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


def _uvicorn_transport() -> _Transport | None:
    """The connection of the request being served, when uvicorn serves it (see the module
    docstring); None anywhere else."""
    task = asyncio.current_task()
    frame = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    owner = frame.f_locals.get("self") if frame is not None else None
    if owner is None or not type(owner).__module__.startswith("uvicorn."):
        return None
    transport = getattr(owner, "transport", None)
    usable = all(callable(getattr(transport, m, None)) for m in ("get_extra_info", "abort"))
    return cast(_Transport, transport) if usable else None


async def _until_disconnected(receive: Receive) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while (await receive())["type"] != "http.disconnect":
                pass


async def _reset(receive: Receive) -> None:
    transport = _uvicorn_transport()
    if transport is None:
        import httpx

        raise httpx.ReadError("[Errno 104] Connection reset by peer (a together-sim fault)")
    sock = transport.get_extra_info("socket")
    if sock is not None:  # linger 0: close() sends an RST instead of a FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await _until_disconnected(receive)


async def _truncated(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, share: float
) -> None:
    """The real answer (the handler runs, with its side effects), cut after ``share`` of its
    body: the client saw the request succeed on the server, but not the reply."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    if start is None:
        return
    body = b"".join(chunks)
    kept = body[: int(len(body) * share)]
    headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
    await send({**start, "headers": [*headers, (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": kept, "more_body": True})
    transport = _uvicorn_transport()
    if transport is None:
        import httpx

        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body: "
            f"received {len(kept)} bytes, expected {len(body)} (a together-sim fault)"
        )
    transport.close()  # close, not abort: what was written still goes out first
    await _until_disconnected(receive)


_EVENT_END = re.compile(rb"(?<=\n\n)")


def _slowly(send: Send, spec: SlowStream) -> Send:
    """A ``send`` that delivers each body in pieces, ``spec.interval`` seconds apart."""
    sse = False
    started = False

    async def slow(message: Message) -> None:
        nonlocal sse, started
        if message["type"] == "http.response.start":
            sse = any(
                k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                for k, v in message.get("headers", [])
            )
            await send(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if sse:
            pieces = [p for p in _EVENT_END.split(body) if p] or [b""]
        else:
            size = spec.chunk_bytes
            pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        for index, piece in enumerate(pieces):
            if started:
                await asyncio.sleep(spec.interval)
            started = True
            last = index == len(pieces) - 1
            await send({"type": "http.response.body", "body": piece, "more_body": more or not last})

    return slow
