"""The guarded protocol, one connection at a time over a transport the test holds: what it
writes, when it closes, and which connection gives way past the cap. ``tests/hostile/
test_limits.py`` asks the same of a real server over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from mock_server.core.limits import Limits
from mock_server.guard import protocol as guarded
from mock_server.guard.protocol import GuardedHttpTools, connection_cap, server_options


class Transport(asyncio.Transport):
    """What the protocol writes, and whether it shut its sending side or closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = self.eof = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def answer(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        """The status, headers and Together error written, if any."""
        head, _, body = self.written.partition(b"\r\n\r\n")
        status_line, *lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines)
        error = json.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"}
        return int(status_line.split()[1]), headers, error


async def _never_answers(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.Event().wait()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


async def _answers(scope: Scope, receive: Receive, send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


class Server:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, limits: Limits, app: Any = _never_answers
    ) -> None:
        self.loop = loop
        options = server_options(limits)
        self.protocol: type[GuardedHttpTools] = options["http"]
        self.config = uvicorn.Config(app, log_level="critical", **options)
        self.config.load()
        self.state = ServerState()

    def connect(self) -> tuple[GuardedHttpTools, Transport]:
        protocol = self.protocol(
            config=self.config, server_state=self.state, app_state={}, _loop=self.loop
        )
        transport = Transport()
        protocol.connection_made(transport)
        return protocol, transport

    def wait(self, seconds: float) -> None:
        self.loop.run_until_complete(asyncio.sleep(seconds))


def test_headers_past_the_limit_are_a_431_then_what_still_comes_is_dropped(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, transport = Server(loop, Limits(max_header_bytes=1024)).connect()
    protocol.data_received(b"GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 600)
    assert transport.written == b""  # not past it yet
    protocol.data_received(b"a" * 600)
    status, headers, error = transport.answer()
    assert (status, headers["connection"], error["type"]) == (431, "close", "invalid_request_error")
    assert "--max-header-bytes" in error["message"]
    assert transport.eof and not transport.closed  # shut for sending, still reading: lingering
    written = transport.written
    protocol.data_received(b"a" * 100_000 + b"\r\n\r\n")
    assert transport.written == written and not protocol.tasks  # dropped: no request started


@pytest.mark.parametrize("reads", [1, 2], ids=["whole head in one read", "ending in the second"])
def test_a_head_past_the_limit_that_arrives_complete_is_a_431_and_reaches_no_app(
    loop: asyncio.AbstractEventLoop, reads: int
) -> None:
    # Parsed (and so dispatched) within the read that completes it: the raw count of the reads
    # before cannot see it, the parser's callbacks do.
    protocol, transport = Server(loop, Limits(max_header_bytes=2000), app=_answers).connect()
    head = b"GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
    cut = 1500 if reads == 2 else len(head)
    protocol.data_received(head[:cut])
    if reads == 2:
        assert transport.written == b""
        protocol.data_received(head[cut:])
    status, headers, error = transport.answer()
    assert (status, headers["connection"]) == (431, "close")
    assert "--max-header-bytes" in error["message"]
    assert not protocol.tasks  # the app never saw it


def test_a_head_within_the_limit_arriving_whole_is_answered(
    loop: asyncio.AbstractEventLoop,
) -> None:
    server = Server(loop, Limits(max_header_bytes=2000), app=_answers)
    protocol, transport = server.connect()
    protocol.data_received(
        b"GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1800 + b"\r\n\r\n"
    )
    server.wait(0.01)
    assert transport.written.startswith(b"HTTP/1.1 200")


def test_a_request_the_parser_refuses_is_a_400_in_togethers_body(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, transport = Server(loop, Limits()).connect()
    protocol.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    status, _, error = transport.answer()
    assert (status, error["type"]) == (400, "invalid_request_error")


def test_a_head_that_stops_arriving_is_a_408(loop: asyncio.AbstractEventLoop) -> None:
    server = Server(loop, Limits(request_timeout=0.01))
    protocol, transport = server.connect()
    protocol.data_received(b"GET /v1/files HTTP/1.1\r\nHost: ")
    server.wait(0.05)
    status, headers, error = transport.answer()
    assert (status, headers["connection"]) == (408, "close")
    assert "--request-timeout" in error["message"]


def test_a_connection_that_never_sends_a_byte_closes_quietly(
    loop: asyncio.AbstractEventLoop,
) -> None:
    server = Server(loop, Limits(idle_timeout=0.01))
    _, transport = server.connect()
    server.wait(0.05)
    assert transport.closed and transport.written == b""


def test_past_the_cap_the_oldest_connection_without_a_request_gives_way(
    loop: asyncio.AbstractEventLoop,
) -> None:
    server = Server(loop, Limits(max_connections=3))
    busy, busy_transport = server.connect()
    busy.data_received(b"GET /v1/files HTTP/1.1\r\nHost: x\r\n\r\n")  # the app never answers
    idle, idle_transport = server.connect()
    idle.data_received(b"GET /v1/files HTTP/1.1\r\nHost: x\r\n\r\n")
    idle.cycle.response_complete = True  # answered: an idle keep-alive connection now
    half, half_transport = server.connect()
    half.data_received(b"GET /v1/fi")  # half-open: never a whole head ...
    half._opened -= 2  # ... in the two seconds since it opened
    assert len(server.state.connections) == 3

    _, new_transport = server.connect()
    assert half_transport.closed  # the half-open one first, though it is the youngest
    assert not (busy_transport.closed or idle_transport.closed or new_transport.closed)
    server.connect()  # then the idle one, not the newcomer whose request may be on its way
    assert idle_transport.closed and not (busy_transport.closed or new_transport.closed)
    assert len(server.state.connections) == 3


def test_past_the_cap_with_every_connection_busy_the_newcomer_gets_a_503_to_retry(
    loop: asyncio.AbstractEventLoop,
) -> None:
    server = Server(loop, Limits(max_connections=2))
    for _ in range(2):
        protocol, _ = server.connect()
        protocol.data_received(b"GET /v1/files HTTP/1.1\r\nHost: x\r\n\r\n")
    _, transport = server.connect()
    status, headers, error = transport.answer()
    assert (status, headers["retry-after"], error["type"]) == (503, "1", "server_error")
    assert "--max-connections" in error["message"]


def test_the_cap_stays_under_the_file_descriptor_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guarded.resource, "getrlimit", lambda _: (1024, 1024))
    assert connection_cap(2048) == 1024 - 128
    assert connection_cap(100) == 100
    monkeypatch.setattr(guarded.resource, "getrlimit", lambda _: (256, 4096))
    assert connection_cap(2048) == 256 - 64


def test_stray_bytes_between_requests_leave_the_connection_idle_not_open_for_ever(
    loop: asyncio.AbstractEventLoop,
) -> None:
    server = Server(loop, Limits(idle_timeout=0.01), app=_answers)
    protocol, transport = server.connect()
    protocol.data_received(b"GET /v1/files HTTP/1.1\r\nHost: x\r\n\r\n")
    server.wait(0)  # answered: uvicorn's keep-alive timer runs ...
    assert transport.written.startswith(b"HTTP/1.1 200 ")
    protocol.data_received(b"\r\n")  # ... until these bytes, which begin no request, stop it
    server.wait(0.05)
    assert transport.closed
