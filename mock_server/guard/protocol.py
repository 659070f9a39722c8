"""uvicorn's httptools protocol with the limits it lacks, for ``together-sim serve``.

What uvicorn leaves open, and what this subclass adds (``Limits`` holds the numbers):

- **Header size.** httptools has no limit, and its parser joins a header value's pieces with
  ``bytes +=`` (and uvicorn the URL's the same way): a 100 MB header costs quadratic copying on
  the event loop, ~20 s in which no other client is answered. Here the request line and headers
  together may have ``max_header_bytes``; past that the answer is a 431 in Together's body.
- **Timeouts before the app.** A connection that never sends a byte is held forever (uvicorn's
  keep-alive timer starts only after a first response), and so is one that sends half a request
  line. Here a connection with no request in it closes after ``idle_timeout`` (uvicorn's
  ``timeout_keep_alive`` after a response, this one before the first), and a request's line and
  headers must be in ``request_timeout`` after its first byte, or it is a 408. The body's
  timeout is the middleware's (``guard/middleware.py``), except for the rest of a body the app
  refused early, which the server drops as it arrives: a stall there closes the connection.
- **Connections.** Each holds a file descriptor; at the process's limit ``accept`` fails and
  every new client waits in the backlog until it gives up (~1,100 half-open connections under
  ``ulimit -n 1024`` did that). Here at most ``max_connections`` are open, and never more than
  the descriptor limit less a reserve for files and the database: a new connection past the
  cap closes the oldest that holds no request (half-open ones first, then idle keep-alive ones,
  then ones opened under a second ago), and only where every one is mid-request does the
  newcomer get a 503 with
  ``retry-after`` (which both SDKs retry). uvicorn's ``limit_concurrency`` is not used: it
  counts the same connections but answers a request, not a connection, and in plain text.
- **Refusals are read.** uvicorn answers a malformed request with a plain-text 400 and closes at
  once, so a client still sending gets a reset instead of the answer. Here every refusal of the
  protocol is Together's body, after which the connection shuts its sending side and drops what
  the client still sends for up to ``LINGER`` seconds, as nginx's lingering close does.
"""

from __future__ import annotations

import resource
from asyncio import TimerHandle, Transport
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mock_server.core.errors import (
    HeadersTooLarge,
    InvalidRequest,
    RequestTimeout,
    TogetherError,
    error_body,
)
from mock_server.core.limits import Limits, size
from mock_server.core.wire import json_body

__all__ = ["LINGER", "GuardedHttpTools", "connection_cap", "raise_file_limit", "server_options"]

LINGER = 5.0
# Descriptors kept back from the connections: the database, upload parts, spooled forms, logs,
# worker pipes. At least this many, or an eighth of the limit where that is more.
_RESERVE = 64
# A new connection's time to send its first request before it counts as half-open.
_GRACE = 1.0
# Below this many open connections the cap is not worth a system call to check.
_CHECK_ABOVE = 32


def connection_cap(configured: int) -> int:
    """The most connections to hold open: ``configured``, or fewer where the process may not
    open that many descriptors (read each time: the limit can change while the server runs)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - max(_RESERVE, soft // 8)))


def raise_file_limit() -> None:
    """The soft descriptor limit up to the hard one, as Go's runtime does at startup: the soft
    one is often 1024 for no reason but history."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # an infinite hard limit may be refused: keep the soft one
            pass


def server_options(limits: Limits) -> dict[str, Any]:
    """``uvicorn.run``'s arguments for these limits: this protocol, with them, and uvicorn's own
    keep-alive timeout as the idle one."""
    protocol = type("GuardedHttpTools", (GuardedHttpTools,), {"limits": limits})
    return {"http": protocol, "timeout_keep_alive": limits.idle_timeout}


class _HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing a head past its limit."""


class GuardedHttpTools(HttpToolsProtocol):
    """One connection. ``limits`` is set on the subclass ``server_options`` makes."""

    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: TimerHandle | None = None  # idle, head, or a dropped body's stall
        self._head_bytes = 0  # raw bytes since the head began, while it is incomplete
        self._head_size = 0  # the request target's and headers' bytes, as the parser hands them
        self._head_too_large = False
        self._in_head = False  # a request's first byte is in, its headers are not
        self._in_message = False  # a request's first byte is in, its last is not
        self._heads = 0  # requests whose headers came in whole
        self._opened = 0.0
        self._lingering = False

    # -- the connection ---------------------------------------------------------------------

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._arm(self.limits.idle_timeout, self._idle)
        if len(self.connections) > min(_CHECK_ABOVE, self.limits.max_connections):
            self._hold_cap()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # refused: what still comes is dropped
        if self._in_head or not self._in_message:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._lingering or self.transport.is_closing():
            return
        if (self._in_head or not self._in_message) and (
            self._head_bytes > self.limits.max_header_bytes
        ):
            self._refuse(self._too_large())
        elif self._in_head and self._deadline is None:
            # A head that did not come in one piece (most do, and then cost no timer).
            self._arm(self.limits.request_timeout, self._head_late)
        elif self._dropping():
            self._arm(self.limits.body_timeout, self._stalled)
        elif (
            not self._in_message
            and self._holds_no_request()
            and self._deadline is None
            and self.timeout_keep_alive_task is None
        ):
            # Bytes that began no request (a stray CRLF between requests) stopped uvicorn's
            # keep-alive timer: the connection is idle all the same.
            self._arm(self.limits.idle_timeout, self._idle)

    def send_400_response(self, msg: str) -> None:
        """A request the parser refuses, in Together's body (uvicorn's is plain text); or one
        whose head a callback below found too large."""
        if self._head_too_large:
            self._refuse(self._too_large())
            return
        self._refuse(InvalidRequest(f"{msg} The request is not HTTP/1.1 that can be parsed."))

    def _too_large(self) -> HeadersTooLarge:
        limit = self.limits.max_header_bytes
        return HeadersTooLarge(
            f"The request line and headers go past the limit of {limit} bytes "
            f"({size(limit)}; together-sim's --max-header-bytes sets it)"
        )

    # -- the parser's callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = self._in_head = True
        self._head_size, self._head_too_large = 0, False
        self._disarm()  # the idle deadline; the head's is armed in data_received if need be

    # The raw count in data_received sees a head that is still coming in; a head that arrives
    # whole in one read (or ends in the read that crosses the limit) is parsed, and dispatched,
    # within that read, so it is measured here, as the parser hands over its parts. Raising
    # stops the parser; uvicorn then calls send_400_response, which answers the 431.

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and the line's CRLF
        super().on_header(name, value)

    def _count_head(self, more: int) -> None:
        self._head_size += more
        if self._head_size > self.limits.max_header_bytes:
            self._head_too_large = True
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._heads += 1
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_message = False
        if self.cycle is not None and self.cycle.response_complete:
            # The last of a body answered before it was in: idle from here, as after a response
            # (the bytes dropped since stopped uvicorn's keep-alive timer).
            self._disarm()
            if (
                self.timeout_keep_alive_task is None
                and not self.pipeline
                and not self.transport.is_closing()
            ):
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._dropping() and not self.transport.is_closing():
            self._arm(self.limits.body_timeout, self._stalled)

    # -- deadlines ---------------------------------------------------------------------------

    def _arm(self, seconds: float, then: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, then)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _idle(self) -> None:
        """No request began: close quietly, as uvicorn's keep-alive timeout does."""
        self._deadline = None
        self.transport.close()

    def _head_late(self) -> None:
        self._deadline = None
        seconds = self.limits.request_timeout
        self._refuse(
            RequestTimeout(
                f"The request line and headers did not arrive within {seconds:g} s of its first "
                "byte (together-sim's --request-timeout sets it), so the connection is closed"
            )
        )

    def _stalled(self) -> None:
        """The rest of a refused body stopped arriving: it has had its answer, so just close."""
        self._deadline = None
        self.transport.close()

    def _dropping(self) -> bool:
        """Whether the request's answer is out while its body is still arriving (and dropped)."""
        return self._in_message and self.cycle is not None and self.cycle.response_complete

    # -- the connection cap ------------------------------------------------------------------

    def _hold_cap(self) -> None:
        if len(self.connections) <= connection_cap(self.limits.max_connections):
            return
        idle = [
            c
            for c in self.connections
            if isinstance(c, GuardedHttpTools) and c is not self and c._holds_no_request()
        ]
        if idle:
            now = self.loop.time()
            victim = min(idle, key=lambda c: (c._rank(now), c._opened))
            self.connections.discard(victim)  # counted out now: its loss is reported later
            victim._disarm()
            victim.transport.close()
            return
        self._refuse(
            TogetherError(
                f"together-sim holds {len(self.connections) - 1} connections, each with a request "
                "in progress (together-sim's --max-connections and the file-descriptor limit "
                "set how many): retry shortly",
                type_="server_error",
            ),
            status=503,
            headers=((b"retry-after", b"1"),),
        )

    def _holds_no_request(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _rank(self, now: float) -> int:
        """Which gives way first past the cap (the oldest first within a rank): one refused
        already; one that has had ``_GRACE`` to send a head and has not (half-open); one idle
        between requests (keep-alive); and last one just opened, whose request may be on its
        way."""
        if self._lingering:
            return 0
        if self._heads == 0:
            return 1 if now - self._opened >= _GRACE else 3
        return 2

    # -- refusals ----------------------------------------------------------------------------

    def _refuse(
        self,
        error: TogetherError,
        *,
        status: int | None = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """Answer ``error`` and close, letting the client read the answer (see the module)."""
        self._lingering = True
        self._disarm()
        self._unset_keepalive_if_required()
        if self.cycle is not None and not self.cycle.response_complete:
            # A request is still being answered on this connection: no second answer in the
            # middle of it. If its own body broke off (a bad chunk), close now, as uvicorn does;
            # if the next request is the bad one (pipelining), once this answer is out.
            if self.cycle.more_body:
                self.transport.close()
            else:
                self.cycle.keep_alive = False
            return
        body = json_body(error_body(error.message, error.type, error.param, error.code))
        content = [STATUS_LINE[status or error.status]]
        for name, value in (*self.server_state.default_headers, *headers):
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._deadline = self.loop.call_later(LINGER, self.transport.close)
