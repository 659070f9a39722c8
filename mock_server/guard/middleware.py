"""``RequestGuard``: the body limits and the body timeout, ahead of everything else in the app.

A pure ASGI middleware (a ``BaseHTTPMiddleware`` would cost a task and a stream per request): a
request without a body passes after one look at its headers. One with a body is held to its
limit (``Limits.body_limit``: an upload's or any other body's):

- a declared ``content-length`` past it is a 413 at once, before a byte of the body is read; the
  server then drops the body as it arrives, so the connection serves the next request (unless
  the client waits on ``expect: 100-continue``, when it is closed: it may never send the body);
- a chunked body is counted as the app reads it, and refused the moment it goes past;
- each wait for the next bytes is bounded by ``body_timeout``: a client that stops sending (a
  ``content-length`` larger than what follows) gets a 408 and the connection is closed.

A refused body surfaces in the app as the error raised from ``receive``, so the reader stops
there (an upload discards its part); whatever the app then answers is dropped, and the guard
answers in Together's body, whichever route (or FastAPI's own body parsing) was reading.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.core.errors import PayloadTooLarge, RequestTimeout, TogetherError
from mock_server.core.limits import LIMITS, Limits
from mock_server.core.wire import json_body

__all__ = ["RequestGuard", "answer"]


class RequestGuard:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[LIMITS] = self.limits  # for the form parsers (core.limits.form_limits)
        declared: int | None = None
        chunked = expects = False
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
            elif name == b"expect":
                expects = True
        if not declared and not chunked:  # no body: nothing to hold it to
            await self.app(scope, receive, send)
            return
        limit, param = self.limits.body_limit(scope["path"], content_type)
        if declared is not None and declared > limit:
            refused = PayloadTooLarge(self.limits.too_large(param, declared), param=param)
            await answer(send, refused, close=expects)
            return
        await self._held(scope, receive, send, limit, param)

    async def _held(
        self, scope: Scope, receive: Receive, send: Send, limit: int, param: str | None
    ) -> None:
        timeout = self.limits.body_timeout
        received = 0
        done = False  # the whole body is in: later waits (for a disconnect) are the app's
        refused: TogetherError | None = None
        started = False

        async def held_receive() -> Message:
            nonlocal received, done, refused
            if refused is not None:
                raise refused
            if done:
                return await receive()
            try:
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                refused = RequestTimeout(
                    f"The request body stopped arriving: no bytes came for {timeout:g} s "
                    "(together-sim's --body-timeout sets it), so the connection is closed. Send "
                    "the request again with a content-length that matches its body.",
                    param=param,
                )
                raise refused from None
            if message["type"] != "http.request":
                done = True
                return message
            received += len(message.get("body", b""))
            if received > limit:
                refused = PayloadTooLarge(self.limits.too_large(param, None), param=param)
                raise refused
            done = not message.get("more_body", False)
            return message

        async def held_send(message: Message) -> None:
            nonlocal started
            if refused is not None and not started:
                return  # the app's answer to a body the guard refused: the guard answers it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, held_receive, held_send)
        except Exception:
            if refused is None or started:
                raise
        if refused is not None and not started:
            await answer(send, refused, close=isinstance(refused, RequestTimeout))


async def answer(send: Send, error: TogetherError, *, close: bool = False) -> None:
    """``error`` in Together's body; ``close`` ends the connection after it."""
    body = json_body(error.body())
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": error.status,
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
