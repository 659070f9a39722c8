"""The ``together-sim`` command: ``serve`` runs the simulator; ``advance``, ``fail``, ``trainer``,
``reset``, ``clock``, ``faults``, ``journal`` and ``scenario`` drive a running one through its
``/_sim/`` controls. ``record``, ``drift`` and ``serve --replay`` live in ``record/cli.py``;
``contract`` (the contract suite against any base URL) in ``contracts/cli.py``.

Every ``serve`` flag can also come from a ``TOGETHER_SIM_*`` variable (``--api-key`` from
``TOGETHER_SIM_API_KEYS``, comma-separated); a flag given on the command line wins.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from typing import Any

from contracts.cli import add_command as add_contract_command
from mock_server.faults.cli import add_commands as add_fault_commands
from mock_server.record.cli import add_commands as add_record_commands
from mock_server.record.cli import serve_replay

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    if args.replay is not None:
        return serve_replay(args)
    # Importing FastAPI and building the app allocate ~10^5 long-lived objects: collecting during
    # that finds nothing to free and costs ~8% of startup. Collect never, then freeze them.
    gc.disable()
    import uvicorn

    from mock_server.app import create_app
    from mock_server.settings import Settings

    given: dict[str, Any] = {
        key: value
        for key, value in {
            "mode": args.mode,
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "api_keys": args.api_key,
            "clock": args.clock,
            "speed": args.speed,
            "seed": args.seed,
            "account": args.account,
            "keep_views": args.keep_views,
            "spec": args.spec,
            "trainer": args.trainer,
            "real_model": args.real_model,
            "model_map": args.model_map,
            "progress": args.progress,
            "worker_threads": args.worker_threads,
            "faults": args.faults,
        }.items()
        if value is not None
    }
    settings = Settings(**given)
    app = create_app(settings)
    gc.freeze()
    gc.enable()
    detail = (
        "examples mode: answers from the spec, no state"
        if settings.mode == "examples"
        else f"clock {settings.clock.value}, speed {settings.speed}, "
        f"trainer {settings.trainer}, data {settings.data_dir}"
    )
    print(f"together-sim on http://{settings.host}:{settings.port} ({detail})", flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=args.access_log,
        ws="none",  # no WebSocket routes: skips importing `websockets` at startup
    )
    return 0


def _control(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None) -> int:
    import httpx

    response = httpx.request(method, args.url.rstrip("/") + path, json=body, timeout=30)
    print(json.dumps(response.json(), indent=2))
    return 0 if response.is_success else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="together-sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the simulator")
    serve.add_argument(
        "--mode",
        choices=["stateful", "examples"],
        help="stateful simulator (default), or stateless answers from the spec's examples",
    )
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir")
    serve.add_argument("--api-key", action="append", help="accepted key (repeatable)")
    serve.add_argument("--clock", choices=["instant", "realtime", "manual"])
    serve.add_argument("--speed", type=float, help="divides the job timeline (realtime clock)")
    serve.add_argument("--seed", type=int, help="seed for ids and synthetic output")
    serve.add_argument("--account", help="namespace of output model names")
    serve.add_argument("--spec", help="path of the pinned OpenAPI spec")
    serve.add_argument(
        "--keep-views",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep rendered job bodies until the job's next change (default: on)",
    )
    serve.add_argument(
        "--trainer",
        choices=["synthetic", "real"],
        help="who trains new jobs: the synthetic timeline (default) or a real worker process",
    )
    serve.add_argument(
        "--real-model",
        choices=["micro", "small", "smollm2"],
        help="the base a real job trains when nothing else names one (default: micro)",
    )
    serve.add_argument(
        "--model-map",
        metavar="FILE",
        help="JSON or YAML file mapping Together model names to bases for real training",
    )
    serve.add_argument(
        "--worker-threads",
        type=int,
        metavar="N",
        help="CPU threads of each training and inference worker (default: torch's, every core)",
    )
    serve.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress line per training job on stderr (default: when it is a terminal)",
    )
    serve.add_argument(
        "--faults", metavar="FILE", help="a scenario file (faults, job behaviours) from startup"
    )
    serve.add_argument(
        "--replay", metavar="DIR", help="answer from a cassette made by `together-sim record`"
    )
    serve.add_argument("--log-level", default="warning")
    serve.add_argument("--access-log", action="store_true")
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
    add_contract_command(sub)  # contract (contracts/cli.py)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
