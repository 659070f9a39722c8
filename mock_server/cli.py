"""The ``together-sim`` command: ``serve`` runs the simulator; ``advance``, ``fail``, ``trainer``,
``reset``, ``clock``, ``faults``, ``journal`` and ``scenario`` drive a running one through its
``/_sim/`` controls. ``record``, ``drift`` and ``serve --replay`` live in ``record/cli.py``;
``contract`` (the contract suite against any base URL) in ``contracts/cli.py``.

``serve``'s flags are built from the fields of :class:`mock_server.settings.Settings` (the name
in kebab case, the description as help), so each can also come from its ``TOGETHER_SIM_*``
variable (``--api-key`` from ``TOGETHER_SIM_API_KEYS``, comma-separated); a flag given on the
command line wins. Those flags (pydantic) and ``contract``'s (``contracts/``) are built only when
that sub-command runs or shows its help: every other command, and ``--help``, starts without them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mock_server.cli_flags import LazyFlagsParser, given_settings, settings_flags
from mock_server.faults.cli import add_admin_key
from mock_server.faults.cli import add_commands as add_fault_commands
from mock_server.record.cli import add_commands as add_record_commands
from mock_server.record.cli import serve_replay

if TYPE_CHECKING:
    from mock_server.settings import Settings

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    if args.replay is not None:
        return serve_replay(args)
    # Importing FastAPI and building the app allocate ~10^5 long-lived objects: collecting during
    # that finds nothing to free and costs ~8% of startup. Collect never, then freeze them.
    gc.disable()
    # numpy, loaded on first use (dataset checks, embeddings), starts an OpenBLAS worker thread
    # per core that spins for ~75 ms of CPU after the import, racing the first dataset check and
    # the event loop on a small machine; the simulator does no BLAS-heavy work.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import sqlite3

    import uvicorn

    from mock_server.core.lazy_model import import_fastapi

    import_fastapi()  # first, with its own models deferred: ~40 ms of the start
    from mock_server.app import create_app
    from mock_server.core.errors import ServiceUnavailable
    from mock_server.settings import Settings
    from mock_server.store import SchemaError
    from openapi.locate import SpecError

    settings = Settings(**given_settings(args))
    if settings.trainer == "real" and settings.mode != "examples":
        from mock_server.real_training.extra import missing_train_extra

        if (missing := missing_train_extra()) is not None:  # else every job it took would fail
            gc.enable()
            print(f"together-sim: {missing}", file=sys.stderr)
            return 1
    try:
        if settings.workers > 1:  # each worker builds its own app: here only the once-only work
            from mock_server.serve_workers import prepare

            prepare(settings)
        else:
            app = create_app(settings)
    except (SchemaError, SpecError) as exc:  # a data dir this version cannot use, or no usable
        # spec: its one line, no traceback
        gc.enable()
        print(f"together-sim: {exc}", file=sys.stderr)
        return 1
    except ServiceUnavailable:  # another process holds the database's write lock: one line too
        gc.enable()
        print(
            f"together-sim: {settings.data_dir}: the database is locked by another process",
            file=sys.stderr,
        )
        return 1
    except (OSError, sqlite3.Error) as exc:  # a full disk: its one line, no traceback
        if not _out_of_space(exc, settings.data_dir):
            raise
        gc.enable()
        print(f"together-sim: {settings.data_dir}: no space left on device", file=sys.stderr)
        return 1
    gc.freeze()
    gc.enable()
    detail = (
        "examples mode: answers from the spec, no state"
        if settings.mode == "examples"
        else f"clock {settings.clock.value}, speed {settings.speed}, "
        f"trainer {settings.trainer}, data {settings.data_dir}"
    ) + _shared_detail(settings)
    print(f"together-sim on http://{settings.host}:{settings.port} ({detail})", flush=True)
    # The request-line and header limits, their timeouts and the connection cap live in the
    # protocol (guard/protocol.py); the body's in the app (guard/middleware.py).
    from mock_server.guard.protocol import raise_file_limit, server_options

    raise_file_limit()  # the workers inherit the limit
    if settings.workers > 1:
        return _serve_workers(settings, args)
    if "MALLOC_ARENA_MAX" not in os.environ:
        from mock_server.core.process import limit_malloc_arenas

        limit_malloc_arenas()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=args.access_log,
        ws="none",  # no WebSocket routes: skips importing `websockets` at startup
        **server_options(settings.limits),
    )
    return 0


def _shared_detail(settings: Settings) -> str:
    """The startup line's words for a shared deployment: the workers, and where the records and
    bytes are (the database without its password)."""
    from urllib.parse import urlsplit

    parts = [f"{settings.workers} workers"] if settings.workers > 1 else []
    if settings.database_url is not None:
        url = urlsplit(settings.database_url.get_secret_value())
        parts.append(f"database {url.scheme}://{url.hostname}:{url.port or 5432}{url.path}")
    if settings.blob_url is not None:
        parts.append(f"blobs {settings.blob_url}")
    return "".join(f", {part}" for part in parts)


def _serve_workers(settings: Settings, args: argparse.Namespace) -> int:
    """uvicorn's supervisor and ``settings.workers`` processes on one socket (serve_workers.py):
    a worker that dies is started again by the supervisor."""
    from mock_server.serve_workers import export

    saved = dict(os.environ)  # the workers inherit the settings from here; the caller gets
    export(settings)  # its environment back (main() run in a test, say)
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")  # what limit_malloc_arenas does, per worker
    try:
        _run_workers(settings, args)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return 0


def _run_workers(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from mock_server.guard.protocol import server_options

    uvicorn.run(
        "mock_server.serve_workers:create_app_from_env",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=args.access_log,
        ws="none",
        # The guarded protocol's options, its class named by import string (serve_workers.py)
        **{**server_options(settings.limits), "http": "mock_server.serve_workers:guarded_http"},
    )


def _out_of_space(exc: BaseException, data_dir: Path) -> bool:
    """SQLite cannot always say why it failed (CANTOPEN is also what a bad permission gives), so
    where the error is ambiguous, the disk itself decides."""
    from mock_server.core.errors import is_disk_full

    if is_disk_full(exc):
        return True
    folder = data_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        disk = os.statvfs(folder)
    except OSError:
        return False
    return disk.f_bavail == 0 or disk.f_favail == 0


def _control(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None) -> int:
    import httpx

    key = getattr(args, "admin_key", None)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = httpx.request(
        method, args.url.rstrip("/") + path, json=body, headers=headers, timeout=30
    )
    print(json.dumps(response.json(), indent=2))
    return 0 if response.is_success else 1


def _serve_flags(serve: argparse.ArgumentParser) -> None:
    settings_flags(serve)
    serve.add_argument(
        "--replay", metavar="DIR", help="answer from a cassette made by `together-sim record`"
    )
    serve.add_argument("--log-level", default="warning")
    serve.add_argument("--access-log", action="store_true")


def _plugin_flags(name: str) -> Callable[[argparse.ArgumentParser], None]:
    """A command the product names but does not implement: the package registered under
    ``together_sim.commands`` (pyproject.toml's entry points) fills it in when it runs. So the
    product never imports the contract harness; the harness plugs into the product."""

    def configure(command: argparse.ArgumentParser) -> None:
        from importlib.metadata import entry_points

        found = entry_points(group="together_sim.commands", name=name)
        if not found:
            command.error(
                f"no package provides `{name}`: install together-sim with its [contract] extra "
                "(pip install -e '.[contract]'), which registers the command's entry point"
            )
        next(iter(found)).load()(command)

    return configure


def _parser() -> argparse.ArgumentParser:
    # Typed as the base class: the other modules add their commands to plain parsers (at run time
    # every sub-command is a LazyFlagsParser, which is what lets serve and contract add flags late).
    parser: argparse.ArgumentParser = LazyFlagsParser(prog="together-sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the simulator", flags=_serve_flags)
    serve.set_defaults(run=_serve)

    default_url = os.environ.get("TOGETHER_SIM_URL", "http://127.0.0.1:8000")
    for name, help_ in (
        ("advance", "move the simulator's clock forward"),
        ("fail", "make a job fail now or at a step"),
        ("trainer", "choose who trains a pending or queued job"),
        ("reset", "delete every file and job"),
        ("clock", "show the simulator's time"),
    ):
        command = sub.add_parser(name, help=help_)
        command.add_argument("--url", default=default_url, help="the running simulator")
        add_admin_key(command)
        if name == "advance":
            command.add_argument("seconds", type=float)
            command.set_defaults(
                run=lambda a: _control(a, "POST", "/_sim/advance", {"seconds": a.seconds})
            )
        elif name == "fail":
            command.add_argument("job_id")
            command.add_argument("--at-step", type=int)
            command.add_argument("--kind", choices=["error", "user_error"], default="error")
            command.add_argument("--message", default="Simulated failure injected through /_sim")
            command.set_defaults(
                run=lambda a: _control(
                    a,
                    "POST",
                    f"/_sim/jobs/{a.job_id}/fail",
                    {"kind": a.kind, "at_step": a.at_step, "message": a.message},
                )
            )
        elif name == "trainer":
            command.add_argument("job_id")
            command.add_argument("trainer", choices=["synthetic", "real"])
            command.set_defaults(
                run=lambda a: _control(
                    a, "POST", f"/_sim/jobs/{a.job_id}/trainer", {"trainer": a.trainer}
                )
            )
        elif name == "reset":
            command.set_defaults(run=lambda a: _control(a, "POST", "/_sim/reset", None))
        else:
            command.set_defaults(run=lambda a: _control(a, "GET", "/_sim/clock", None))
    add_fault_commands(sub, default_url, _control)  # faults, journal, scenario
    add_record_commands(sub)  # record, drift
    sub.add_parser(
        "contract",
        help="run the contract suite (schemathesis on the pinned spec) against a server",
        flags=_plugin_flags("contract"),  # contracts/cli.py, through its entry point
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    # Parsing imports pydantic and builds serve's flags from Settings: long-lived objects that a
    # collection would only walk (~10 ms of a start). serve keeps collection off until its app
    # is made (_serve); every other command gets it back before it runs.
    gc.disable()
    try:
        args = _parser().parse_args(argv)
    except BaseException:  # --help, a bad flag
        gc.enable()
        raise
    if args.run is not _serve or args.replay is not None:
        gc.enable()
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
