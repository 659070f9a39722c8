"""The dashboard's live updates: the page's snapshot as server-sent events, sent when it changes.

Each connection reads the snapshot about once a second and sends it only when its bytes differ
from the last one sent, so an idle simulator costs the page nothing but the reads. A stream lasts
as long as the page: ``sse-starlette``'s response stops the generator when the browser goes away
(its ``http.disconnect``) or when uvicorn is told to stop (a stream left open would otherwise hold
the shutdown, since uvicorn waits for open responses), and sends a comment every ``ping`` seconds
so that a proxy between the two does not close a quiet connection. ``retry`` tells the browser's
``EventSource`` how soon to reconnect when the connection drops all the same (a restart).

Each read goes to a worker thread: it reads the store (and brings jobs up to the clock), which
must not hold up the event loop once a second per open page.

``sse_starlette`` is imported when a page first connects: it pulls in uvicorn's entry point,
which an in-process simulator (the testing plugin's) never needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from anyio import to_thread

if TYPE_CHECKING:
    from sse_starlette import EventSourceResponse, ServerSentEvent

__all__ = ["SEPARATOR", "snapshot_events", "snapshot_stream"]

SEPARATOR = "\n"  # one LF ends a line (the SSE default is CRLF): the frames the page has always had


async def snapshot_events(
    read: Callable[[], bytes],
    *,
    interval: float = 1.0,
    retry_ms: int = 500,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[ServerSentEvent]:
    """``retry``, then a ``snapshot`` event (one line of JSON) per change, for as long as the
    consumer keeps asking."""
    from sse_starlette import ServerSentEvent

    yield ServerSentEvent(retry=retry_ms, sep=SEPARATOR)
    last = None
    while True:
        body = await to_thread.run_sync(read)
        if body != last:
            yield ServerSentEvent(body.decode(), event="snapshot", sep=SEPARATOR)
            last = body
        await sleep(interval)


def snapshot_stream(
    read: Callable[[], bytes], *, interval: float = 1.0, ping: float = 15.0
) -> EventSourceResponse:
    """The response that streams :func:`snapshot_events` to one page, with a ``: keep-alive``
    comment every ``ping`` seconds (``no-store`` and ``X-Accel-Buffering: no`` come with it)."""
    from sse_starlette import EventSourceResponse, ServerSentEvent

    return EventSourceResponse(
        snapshot_events(read, interval=interval),
        ping=ping,
        sep=SEPARATOR,
        ping_message_factory=lambda: ServerSentEvent(comment="keep-alive", sep=SEPARATOR),
    )
