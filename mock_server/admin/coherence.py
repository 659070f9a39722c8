"""``SharedStateCheck``: the ASGI middleware that keeps a replica's copies of the controls' state
current (``core/shared.py`` says how). Outside the faults and the kept job views, so that both
answer from what is current; inside the request guard."""

from __future__ import annotations

import logging

from anyio import to_thread
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server.core.errors import TogetherError, error_body
from mock_server.core.offload import loop_first
from mock_server.core.shared import Coherence

__all__ = ["SharedStateCheck"]

log = logging.getLogger("together_sim")


class SharedStateCheck:
    """Asks ``Coherence.moved`` (one primary-key read) before each request, and reloads in a
    worker thread, where reading the store may wait, when it did. The read is tried on the loop
    first (``loop_first``): SQLite's answers there unless a lock is in the way; PostgreSQL's
    would wait on the network, so its store declines on the loop and the read runs in a thread,
    where a slow or unreachable database holds up this request alone."""

    def __init__(self, app: ASGIApp, *, coherence: Coherence) -> None:
        self.app = app
        self.coherence = coherence
        self._moved = loop_first(coherence.moved)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                if await self._moved():
                    await to_thread.run_sync(self.coherence.reload)
            except TogetherError as exc:  # the store's 503: another process holds it locked
                answer = JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)
                await answer(scope, receive, send)
                return
            except Exception as exc:  # outside AnswerUncaught: answered here, in Together's body
                log.exception("reloading the shared state failed", exc_info=exc)
                message = f"Internal error in together-sim: {type(exc).__name__}: {exc}"
                body = error_body(message, "server_error")
                await JSONResponse(body, status_code=500)(scope, receive, send)
                return
        await self.app(scope, receive, send)
