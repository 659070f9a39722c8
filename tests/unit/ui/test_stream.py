"""The dashboard's event stream: a snapshot first, then one only when it changed, and an end
after its lifetime so that a forgotten tab cannot hold a server open. Time is stepped by a fake
sleep, never waited for."""

from __future__ import annotations

import asyncio
import json

from mock_server.admin.ui.stream import snapshot_events


class SteppedTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _frames(reads: list[bytes], *, lifetime: float, interval: float = 1.0) -> list[bytes]:
    time = SteppedTime()
    pending = iter(reads)
    last = [b""]

    def read() -> bytes:
        last[0] = next(pending, last[0])  # past the scripted reads, nothing changes
        return last[0]

    async def collect() -> list[bytes]:
        stream = snapshot_events(
            read, interval=interval, lifetime=lifetime, sleep=time.sleep, monotonic=time.monotonic
        )
        return [frame async for frame in stream]

    return asyncio.run(collect())


def test_the_first_snapshot_is_sent_at_once_and_then_only_changes() -> None:
    a, b = json.dumps({"now": "a"}).encode(), json.dumps({"now": "b"}).encode()
    frames = _frames([a, a, a, b, b], lifetime=10)
    assert frames == [
        b"retry: 500\n\n",
        b'event: snapshot\ndata: {"now": "a"}\n\n',
        b'event: snapshot\ndata: {"now": "b"}\n\n',
    ]


def test_the_stream_ends_after_its_lifetime() -> None:
    time = SteppedTime()

    async def count() -> int:
        stream = snapshot_events(
            lambda: b"{}", interval=1.0, lifetime=5, sleep=time.sleep, monotonic=time.monotonic
        )
        return len([frame async for frame in stream])

    assert asyncio.run(count()) == 2  # retry and the one snapshot: nothing changed
    assert time.slept == [1.0] * 5
    assert time.now == 5
