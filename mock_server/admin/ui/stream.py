"""The dashboard's live updates: the page's snapshot as server-sent events, sent when it changes.

Each connection reads the snapshot about once a second and sends it only when its bytes differ
from the last one sent, so an idle simulator costs the page nothing but the reads. A stream ends
by itself after ``lifetime`` seconds and the browser's ``EventSource`` reconnects (``retry``
tells it how soon) and gets a fresh snapshot first: uvicorn waits for open responses when it
shuts down, and an endless stream held by a forgotten browser tab would keep a server from
stopping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["snapshot_events"]


async def snapshot_events(
    read: Callable[[], bytes],
    *,
    interval: float = 1.0,
    lifetime: float = 15.0,
    retry_ms: int = 500,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> AsyncIterator[bytes]:
    """SSE frames: ``retry``, then a ``snapshot`` event (one line of JSON) per change."""
    yield f"retry: {retry_ms}\n\n".encode()
    started, last = monotonic(), None
    while True:
        body = read()
        if body != last:
            yield b"event: snapshot\ndata: " + body + b"\n\n"
            last = body
        if monotonic() - started >= lifetime:
            return
        await sleep(interval)
