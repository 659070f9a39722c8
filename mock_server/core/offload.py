"""Work that blocks (the store, files on disk, a dataset's check, an archive) goes to a worker
thread, so that the event loop goes on answering every other request meanwhile: polls answered
from kept views, the faults' answers, the controls. On the loop, one slow call holds up them all.

``@off_loop`` on a route handler written as a plain function runs it in anyio's thread pool,
as FastAPI does for a ``def`` handler, but in one hop: FastAPI also sends a ``def`` handler's
return value to the pool for its response-model check, a second hop that costs about as much
as a cheap request's own work. The handler's signature (its dependencies) is the function's own.

``off_loop_context`` enters and leaves a plain context manager (an upload's claim on its part)
in the pool, for an ``async`` handler that streams a body inside it.

``@loop_first`` is for the handlers clients call most, the reads of a poll (a job, its events):
they first run on the loop with ``must_not_wait()`` true, and the store raises ``WouldBlock``
instead of waiting for anything (its lock held by a worker thread, another process's write
lock); the handler then runs again in the pool, from the start. Handing a request to a thread
and back costs far more than those reads themselves (the GIL passes between the two threads
several times: a poll took ~0.6 ms instead of ~0.37 ms), and running them in a thread buys no
concurrency, since what they do is Python holding the GIL. What makes the loop wait still never
runs on it.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from anyio import CancelScope, to_thread

__all__ = ["WouldBlock", "loop_first", "must_not_wait", "off_loop", "off_loop_context"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


_ON_LOOP: ContextVar[bool] = ContextVar("together_sim_on_loop", default=False)


class WouldBlock(BaseException):
    """Raised by the store, on the loop, where it would have to wait. A ``BaseException`` so that
    no ``except Exception`` on the way (a row that does not load) can take it for a failure."""


def must_not_wait() -> bool:
    """Whether this code runs on the event loop under ``@loop_first``: then anything that would
    wait raises ``WouldBlock`` instead."""
    return _ON_LOOP.get()


def loop_first(handler: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``handler`` run on the loop if it can finish without waiting, else in a worker thread.
    Only for handlers that change nothing before their first write: a retry from the start
    must find things as the first try did."""

    @functools.wraps(handler)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _ON_LOOP.set(True)
        try:
            return handler(*args, **kwargs)
        except WouldBlock:
            pass
        finally:
            _ON_LOOP.reset(token)
        return await to_thread.run_sync(functools.partial(handler, *args, **kwargs))

    return run


def off_loop(handler: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``handler`` as a coroutine function that runs it in a worker thread."""

    @functools.wraps(handler)  # __wrapped__: FastAPI reads the handler's own signature
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await to_thread.run_sync(functools.partial(handler, *args, **kwargs))

    return run


@asynccontextmanager
async def off_loop_context(manager: AbstractContextManager[T]) -> AsyncIterator[T]:
    """``async with off_loop_context(cm) as value``: ``cm``'s enter and exit run in a worker
    thread, the block on the loop; an exception of the block reaches ``cm`` as ``with`` would
    hand it."""
    value = await to_thread.run_sync(manager.__enter__)
    try:
        yield value
    except BaseException as exc:
        with CancelScope(shield=True):  # a cancelled request (a timeout) still lets go
            swallowed = await to_thread.run_sync(
                manager.__exit__, type(exc), exc, exc.__traceback__
            )
        if not swallowed:
            raise
    else:
        with CancelScope(shield=True):
            await to_thread.run_sync(manager.__exit__, None, None, None)
