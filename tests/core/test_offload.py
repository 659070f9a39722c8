"""``off_loop`` runs a plain handler in a worker thread with the handler's own signature (so its
dependencies and return type are FastAPI's to read), and ``off_loop_context`` enters and leaves a
plain context manager in one, whatever the block does, a cancellation included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import anyio
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from mock_server.core.offload import (
    WouldBlock,
    loop_first,
    must_not_wait,
    off_loop,
    off_loop_context,
)


async def _greeting() -> str:
    return "hello"


def test_an_off_loop_handler_runs_in_a_worker_thread_with_its_own_signature() -> None:
    app = FastAPI()
    loop_threads: list[int] = []

    @app.middleware("http")
    async def note_loop(request: Any, call_next: Any) -> Any:
        loop_threads.append(threading.get_ident())
        return await call_next(request)

    @app.get("/things/{id}")
    @off_loop
    def get_thing(
        id: str, greeting: Annotated[str, Depends(_greeting)], limit: int = 3
    ) -> dict[str, Any]:
        return {"id": id, "greeting": greeting, "limit": limit, "thread": threading.get_ident()}

    with TestClient(app) as client:
        answer = client.get("/things/a?limit=5")
        refused = client.get("/things/a?limit=many")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["id"], body["greeting"], body["limit"]) == ("a", "hello", 5)
    assert body["thread"] != loop_threads[0]
    assert refused.status_code == 422  # the query parameter was read from the signature


class _Held:
    """A context manager that records where it was entered and left, and what it was told."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.exited_with: list[type[BaseException] | None] = []

    @contextmanager
    def hold(self) -> Iterator[str]:
        self.threads.append(threading.get_ident())
        try:
            yield "held"
        except BaseException as exc:
            self.exited_with.append(type(exc))
            self.threads.append(threading.get_ident())
            raise
        self.exited_with.append(None)
        self.threads.append(threading.get_ident())


def test_a_context_is_entered_and_left_in_a_worker_thread() -> None:
    held = _Held()

    async def main() -> tuple[str, int]:
        async with off_loop_context(held.hold()) as value:
            return value, threading.get_ident()

    value, loop = anyio.run(main)
    assert value == "held"
    assert held.exited_with == [None]
    assert len(held.threads) == 2 and loop not in held.threads


def test_the_block_s_exception_reaches_the_context_and_the_caller() -> None:
    held = _Held()

    async def main() -> None:
        async with off_loop_context(held.hold()):
            raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        anyio.run(main)
    assert held.exited_with == [KeyError]


def test_a_cancelled_block_still_leaves_the_context() -> None:
    held = _Held()

    async def main() -> None:
        with anyio.move_on_after(0.01):  # a request's timeout, cutting the block short
            async with off_loop_context(held.hold()):
                await anyio.sleep_forever()

    anyio.run(main)
    assert len(held.exited_with) == 1 and held.exited_with[0] is not None  # the cancellation


def test_a_loop_first_handler_runs_on_the_loop_when_nothing_would_wait() -> None:
    seen: list[tuple[int, bool]] = []

    @loop_first
    def poll() -> str:
        seen.append((threading.get_ident(), must_not_wait()))
        return "job"

    async def main() -> tuple[str, int]:
        return await poll(), threading.get_ident()

    answer, loop_thread = anyio.run(main)
    assert answer == "job"
    assert seen == [(loop_thread, True)]
    assert must_not_wait() is False  # outside the handler, as before it


def test_a_loop_first_handler_that_would_wait_runs_again_from_the_start_in_a_thread() -> None:
    seen: list[tuple[int, bool]] = []

    @loop_first
    def poll() -> str:
        seen.append((threading.get_ident(), must_not_wait()))
        if must_not_wait():
            raise WouldBlock  # as the store does where its lock is taken
        return "job"

    async def main() -> tuple[str, int]:
        return await poll(), threading.get_ident()

    answer, loop_thread = anyio.run(main)
    assert answer == "job"
    assert len(seen) == 2
    assert seen[0] == (loop_thread, True)
    worker, waiting_allowed = seen[1]
    assert worker != loop_thread
    assert waiting_allowed is False
