"""The dashboard's event stream: a snapshot first, then one only when it changed, for as long as
the page stays (no end of its own), with keep-alive comments while nothing changes and an end as
soon as the client goes away. The generator's time is stepped by a fake sleep, never waited for;
the response's pings need real time, so they run at a hundredth of a second."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from mock_server.admin.ui.stream import snapshot_events, snapshot_stream


class Enough(Exception):
    """Raised by the fake sleep once the test has seen as many intervals as it wanted."""


class SteppedTime:
    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        if len(self.slept) == self.steps:
            raise Enough
        self.slept.append(seconds)


def _frames(reads: list[bytes], *, steps: int) -> tuple[list[bytes], SteppedTime]:
    """The stream's frames over ``steps`` intervals; the stream is stopped from outside (it never
    returns by itself), so a generator that ended on its own would show as too few sleeps."""
    time = SteppedTime(steps)
    pending = iter(reads)
    last = [b""]

    def read() -> bytes:
        last[0] = next(pending, last[0])  # past the scripted reads, nothing changes
        return last[0]

    async def collect() -> list[bytes]:
        frames: list[bytes] = []
        with pytest.raises(Enough):
            async for event in snapshot_events(read, interval=1.0, sleep=time.sleep):
                frames.append(event.encode())
        return frames

    return asyncio.run(collect()), time


def test_the_first_snapshot_is_sent_at_once_and_then_only_changes() -> None:
    a, b = json.dumps({"now": "a"}).encode(), json.dumps({"now": "b"}).encode()
    frames, _ = _frames([a, a, a, b, b], steps=10)
    assert frames == [
        b"retry: 500\n\n",
        b'event: snapshot\ndata: {"now": "a"}\n\n',
        b'event: snapshot\ndata: {"now": "b"}\n\n',
    ]


def test_the_stream_does_not_end_by_itself() -> None:
    a, b = json.dumps({"now": "a"}).encode(), json.dumps({"now": "b"}).encode()
    hour = 3600
    frames, time = _frames([a] * (hour - 1) + [b], steps=hour)
    assert time.slept == [1.0] * hour  # an hour of intervals, still reading at the end
    assert frames[-1] == b'event: snapshot\ndata: {"now": "b"}\n\n'  # a change an hour in


class Tab:
    """An ASGI client of one response: it reads frames until ``enough`` says so, then leaves."""

    def __init__(self, enough: int) -> None:
        self.enough = enough
        self.start: dict[str, Any] = {}
        self.frames: list[bytes] = []
        self.gone = asyncio.Event()
        self.requested = False

    async def receive(self) -> dict[str, Any]:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message.get("body"):
            self.frames.append(message["body"])
            if len(self.frames) >= self.enough:
                self.gone.set()


def test_a_quiet_stream_sends_keep_alive_comments_and_ends_when_the_client_leaves() -> None:
    def read() -> bytes:
        return b'{"now": "a"}'  # never changes: after the snapshot, only pings

    tab = Tab(enough=4)

    async def serve() -> None:
        response = snapshot_stream(read, interval=0.01, ping=0.01)
        scope = {"type": "http", "method": "GET", "asgi": {"version": "3.0"}}
        # The guard only turns a stream that ignores the disconnect into a failure, not a hang.
        await asyncio.wait_for(response(scope, tab.receive, tab.send), timeout=30)

    asyncio.run(serve())  # returned: the response noticed the client leave
    assert tab.start["status"] == 200
    headers = {k.decode().lower(): v.decode() for k, v in tab.start["headers"]}
    assert headers["content-type"].startswith("text/event-stream")
    assert (headers["cache-control"], headers["x-accel-buffering"]) == ("no-store", "no")
    # The snapshot is read in a worker thread, so a ping may come before it: order aside, one
    # snapshot (it never changes) and keep-alives after the retry.
    snapshot = b'event: snapshot\ndata: {"now": "a"}\n\n'
    assert tab.frames[0] == b"retry: 500\n\n" and tab.frames.count(snapshot) == 1
    assert len(tab.frames) >= 4 and set(tab.frames[1:]) - {snapshot} == {b": keep-alive\n\n"}
