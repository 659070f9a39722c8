"""``together-sim serve --workers N``: uvicorn's worker processes, each a whole simulator on the
one port, sharing the store (the data dir's SQLite file, or the database).

uvicorn starts its workers with ``spawn`` and sends each its configuration pickled, so the app and
the protocol travel as import strings, not objects: the parent exports its settings as the
``TOGETHER_SIM_*`` variables the children inherit (``export``), and each child builds its app
(``create_app_from_env``) and its guarded protocol (``guarded_http``) from them. The protocol is
a class made per set of limits (``guard/protocol.py``), which pickle refuses ("not the same object
as mock_server.guard.protocol.GuardedHttpTools"): here each child makes its own from the same
settings.

What must happen once, before any worker answers, the parent does (``prepare``): the schema's
migrations (each child would wait on the others' ``BEGIN IMMEDIATE`` to find nothing to do, but a
bad data dir is one line from the parent rather than N tracebacks) and the cleanup of orphaned
upload parts, which a child starting beside its serving peers (uvicorn restarts one that dies)
must not run: a peer's upload may have a part on disk and its session not yet in the store.
Against a database or object storage other replicas share, that cleanup is no one's at startup.

Each answer of a worker carries its pid in ``x-together-sim-worker``: which process answered is
what a test of replicas, or a person reading a trace, needs to see, and it costs a header.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from enum import Enum
from functools import cache
from typing import Any

from pydantic import SecretStr

from mock_server.settings import ServeMode, Settings

__all__ = ["WORKER_HEADER", "create_app_from_env", "export", "guarded_http", "prepare"]

WORKER_HEADER = "x-together-sim-worker"
_PR_SET_PDEATHSIG = 1  # prctl's option: a signal for this process when its parent dies

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_App = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


def _as_variable(value: object) -> str | None:
    """A setting's value as its variable spells it (what ``Settings`` parses back to it)."""
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def export(settings: Settings, environ: MutableMapping[str, str] = os.environ) -> None:
    """Every setting as its ``TOGETHER_SIM_*`` variable in ``environ``, so that ``Settings()`` in a
    child equals ``settings``; an unset one (None) is removed, leaving the child its default."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    for name in Settings.model_fields:
        variable = prefix + name.upper()
        value = _as_variable(getattr(settings, name))
        if value is None:
            environ.pop(variable, None)
        else:
            environ[variable] = value


def prepare(settings: Settings) -> None:
    """The startup work of ``create_app`` that must run once for all the workers (see the
    module); raises what ``create_app`` would (``SchemaError``, ``SpecError``, ...)."""
    from mock_server.spec.index import operation_index

    operation_index(settings.spec_path())  # the spec each worker loads (cached on disk)
    if settings.mode is ServeMode.examples:
        return
    if settings.database_url is not None:
        # Opened once here too, so that a bad URL or an unreachable server is the parent's one
        # line rather than a traceback in every worker (which then migrate, each under the
        # store's advisory lock, finding nothing left to do).
        from mock_server.store.postgres import PostgresStore

        PostgresStore(settings.database_url.get_secret_value(), settings.data_dir).close()
        return
    from mock_server.store import LocalBlobStore, SqliteStore

    store = SqliteStore(settings.data_dir)
    try:
        if settings.blob_url is None:  # object storage other hosts may share: not at startup
            LocalBlobStore(store.data_dir).remove_orphaned_parts(set(store.list_upload_ids()))
    finally:
        store.close()


def create_app_from_env() -> _App:
    """uvicorn's app factory in each worker: the app of the settings the parent exported, its
    answers marked with this process's pid.

    A spec or data dir this worker cannot use fails every worker alike, where the parent's
    ``prepare`` did not catch it first (a file changed in between): such a failure exits with
    uvicorn's ``STARTUP_FAILURE``, on which the supervisor stops, rather than as a crash, after
    which it would start the worker again and again. Anything else (a database busy for a while)
    is a crash, and the worker is started again."""
    from uvicorn.config import STARTUP_FAILURE

    from mock_server.core.lazy_model import import_fastapi

    import_fastapi()  # as serve does (core/lazy_model.py)
    from mock_server.app import create_app
    from mock_server.store import SchemaError
    from openapi.locate import SpecError

    _end_with_the_supervisor()
    try:
        return _MarkWorker(create_app(Settings()))
    except (SchemaError, SpecError) as exc:
        print(f"together-sim: worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)


def _end_with_the_supervisor() -> None:
    """Have the kernel send this worker SIGTERM (uvicorn's graceful stop) when the supervisor
    dies: a supervisor killed outright (``kill -9``, the OOM killer) otherwise leaves its workers
    serving the port with no one to stop them. Linux only; elsewhere they are left as uvicorn
    leaves them."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    # A supervisor that died in the instant before this line is not noticed; getppid() == 1
    # would not say so either where the supervisor itself is pid 1 (a container's first process).
    prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@cache
def _guarded_class() -> type[Any]:
    from mock_server.guard.protocol import server_options

    protocol: type[Any] = server_options(Settings().limits)["http"]
    return protocol


def guarded_http(**kwargs: Any) -> Any:
    """uvicorn's ``http`` in each worker: the guarded protocol with the exported limits (uvicorn
    calls it as it would the class, once per connection)."""
    return _guarded_class()(**kwargs)


class _MarkWorker:
    """The app, with ``WORKER_HEADER`` on every answer."""

    def __init__(self, app: _App) -> None:
        self.app = app
        self._header = (WORKER_HEADER.encode(), str(os.getpid()).encode())

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: _Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self._header]
            await send(message)

        await self.app(scope, receive, marked)
