"""The record-and-replay commands of ``together-sim``: ``record --target URL --out DIR``,
``drift DIR`` and ``serve --replay DIR`` (the last dispatched here from ``serve``).

Only argparse is imported at module level: ``together-sim serve`` pays nothing for them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["add_commands", "serve_replay"]


def _target(text: str) -> str:
    """An origin; a trailing ``/v1`` is dropped, since the clients add it to every path."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL")
    if parts.path.rstrip("/") not in ("", "/v1"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the service's root (https://api.together.xyz), without a path"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _record(args: argparse.Namespace) -> int:
    import uvicorn

    from mock_server.record.cassette import CassetteError
    from mock_server.record.proxy import create_record_app

    out = Path(args.out)
    try:
        app = create_record_app(
            args.target, out, keep_up_to=args.keep_uploads_up_to << 20, drift=args.drift
        )
    except CassetteError as exc:
        print(f"together-sim record: {exc}", file=sys.stderr)
        return 2
    print(
        f"together-sim recording {args.target} on http://{args.host}:{args.port} into {out} "
        f"(point the client's base URL here; Ctrl-C ends the recording"
        f"{' and writes drift.md' if args.drift else ''})",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, ws="none")
    if args.drift and (out / "drift.md").is_file():
        print(f"drift report: {out / 'drift.md'}", flush=True)
    return 0


def _drift(args: argparse.Namespace) -> int:
    from mock_server.record.cassette import CassetteError, load_cassette
    from mock_server.record.drift import build_report
    from mock_server.record.report import render_markdown

    try:
        report = build_report(load_cassette(Path(args.dir)))
    except CassetteError as exc:
        print(f"together-sim drift: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2) if args.format == "json" else render_markdown(report)
    print(text)
    return 1 if report["operations"] and args.fail_on_drift else 0


def serve_replay(args: argparse.Namespace) -> int:
    """``together-sim serve --replay DIR``: the simulator's flags other than host and port do
    not apply to a replay."""
    import uvicorn

    from mock_server.record.cassette import CassetteError
    from mock_server.record.replay import create_replay_app

    try:
        app = create_replay_app(Path(args.replay))
    except CassetteError as exc:
        print(f"together-sim serve --replay: {exc}", file=sys.stderr)
        return 2
    host, port = args.host or "127.0.0.1", args.port or 8000
    count = len(app.state.cassette.exchanges)
    print(
        f"together-sim replaying {args.replay} ({count} exchanges) on http://{host}:{port}",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=args.log_level, ws="none")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    record = sub.add_parser(
        "record", help="proxy a session with the real service and record it as a cassette"
    )
    record.add_argument(
        "--target", required=True, type=_target, help="e.g. https://api.together.xyz"
    )
    record.add_argument("--out", required=True, help="the cassette directory (new or empty)")
    record.add_argument("--host", default="127.0.0.1")
    record.add_argument("--port", type=int, default=8000)
    record.add_argument(
        "--keep-uploads-up-to",
        type=int,
        default=8,
        metavar="MIB",
        help="uploaded bodies up to this size are kept, to re-send to the simulator (default 8)",
    )
    record.add_argument(
        "--drift",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write drift.md and drift.json when the recording ends (default: on)",
    )
    record.add_argument("--log-level", default="warning")
    record.set_defaults(run=_record)

    drift = sub.add_parser(
        "drift", help="compare a cassette with the pinned spec and with the simulator"
    )
    drift.add_argument("dir", help="a cassette directory")
    drift.add_argument("--format", choices=["md", "json"], default="md")
    drift.add_argument(
        "--fail-on-drift", action="store_true", help="exit 1 when any operation drifts"
    )
    drift.set_defaults(run=_drift)
