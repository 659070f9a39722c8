"""The bad-day commands of ``together-sim``: ``faults add|list|remove|clear``, ``journal`` and
``scenario FILE``, each one call to a running simulator's ``/_sim`` controls.

``faults add`` builds a rule from flags (``--operation 'POST /v1/files' --status 429
--retry-after 1 --times 2``) or takes a whole one as ``--rule JSON``; the server checks it. A
simulator started with keys wants its admin key for every one of them: ``--admin-key``, or
``TOGETHER_SIM_ADMIN_KEY`` as for ``serve``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

__all__ = ["add_admin_key", "add_commands"]

Control = Callable[[argparse.Namespace, str, str, Any], int]

# flag -> rule field, for the flags that carry a value as is
_FIELDS = (
    "id", "operation", "path", "path_regex", "method", "api_key", "probability", "times",
    "every", "skip", "after", "before", "status", "message", "retry_after", "retry_after_ms",
    "truncate",
)  # fmt: skip


def _rule(args: argparse.Namespace) -> dict[str, Any]:
    rule: dict[str, Any] = json.loads(args.rule) if args.rule else {}
    rule.update({f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None})
    if args.latency is not None:
        rule["latency"] = args.latency
    elif args.latency_uniform is not None:
        rule["latency"] = {"uniform": args.latency_uniform}
    elif args.latency_normal is not None:
        rule["latency"] = {"normal": args.latency_normal}
    if args.reset:
        rule["reset"] = True
    if args.slow_stream is not None:
        rule["slow_stream"] = {"interval": args.slow_stream, "chunk_bytes": args.chunk_bytes}
    return rule


def _scenario(path: str) -> Any:
    import yaml

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def add_admin_key(command: argparse.ArgumentParser) -> None:
    """``--admin-key``, sent as the bearer key of a ``/_sim`` call (``args.admin_key``)."""
    command.add_argument(
        "--admin-key",
        default=os.environ.get("TOGETHER_SIM_ADMIN_KEY") or None,
        metavar="KEY",
        help="the simulator's admin key, where it was started with keys "
        "(env TOGETHER_SIM_ADMIN_KEY)",
    )


def _add_rule_flags(add: argparse.ArgumentParser) -> None:
    add.add_argument("--rule", help="a whole rule as JSON (flags override its fields)")
    add.add_argument("--id")
    which = add.add_argument_group("which requests")
    which.add_argument("--operation", help="'METHOD /v1/path/{param}', as the spec writes it")
    which.add_argument("--path", help="a glob on the path, e.g. '/v1/fine-tunes/*'")
    which.add_argument("--path-regex")
    which.add_argument("--method")
    which.add_argument("--api-key", help="only this key's tenant")
    when = add.add_argument_group("when")
    when.add_argument("--probability", type=float)
    when.add_argument("--times", type=int, help="fire on the next N matching calls, then expire")
    when.add_argument("--every", type=int, help="every k-th matching call")
    when.add_argument("--skip", type=int, help="let the first n matching calls through")
    when.add_argument("--after", type=float, help="sim-clock seconds from now")
    when.add_argument("--before", type=float, help="sim-clock seconds from now")
    what = add.add_argument_group("what")
    what.add_argument("--status", type=int, choices=[408, 409, 429, 500, 502, 503, 504])
    what.add_argument("--message")
    what.add_argument("--retry-after", type=float, help="seconds, sent as retry-after")
    what.add_argument("--retry-after-ms", type=int, help="sent as retry-after-ms")
    what.add_argument("--latency", type=float, help="seconds added before the answer")
    what.add_argument("--latency-uniform", type=float, nargs=2, metavar=("LOW", "HIGH"))
    what.add_argument("--latency-normal", type=float, nargs=2, metavar=("MEAN", "SD"))
    what.add_argument("--reset", action="store_true", help="close the connection, no answer")
    what.add_argument("--truncate", type=float, help="send this share of the body, then close")
    what.add_argument("--slow-stream", type=float, metavar="INTERVAL", help="seconds per chunk")
    what.add_argument("--chunk-bytes", type=int, default=1024)


def _also_after(action: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--url`` and ``--admin-key`` after a ``faults`` sub-command too, where every other
    control command takes them (``together-sim advance 5 --url U``): given there, they win;
    left out, the values given before the sub-command (or their defaults) stay."""
    action.add_argument("--url", default=argparse.SUPPRESS, help="the running simulator")
    action.add_argument(
        "--admin-key",
        default=argparse.SUPPRESS,
        metavar="KEY",
        help="the simulator's admin key (env TOGETHER_SIM_ADMIN_KEY)",
    )
    return action


def add_commands(sub: Any, default_url: str, control: Control) -> None:
    """Add the commands to ``together-sim``'s subparsers; ``control`` makes the HTTP call."""
    faults = sub.add_parser("faults", help="inject faults into a running simulator")
    faults.add_argument("--url", default=default_url, help="the running simulator")
    add_admin_key(faults)
    actions = faults.add_subparsers(dest="faults_command", required=True)
    add = _also_after(actions.add_parser("add", help="install a fault rule"))
    _add_rule_flags(add)
    add.set_defaults(run=lambda a: control(a, "POST", "/_sim/faults", _rule(a)))
    listing = _also_after(actions.add_parser("list", help="the rules in force and their counters"))
    listing.set_defaults(run=lambda a: control(a, "GET", "/_sim/faults", None))
    remove = _also_after(actions.add_parser("remove", help="remove one rule"))
    remove.add_argument("rule_id")
    remove.set_defaults(run=lambda a: control(a, "DELETE", f"/_sim/faults/{a.rule_id}", None))
    clear = _also_after(actions.add_parser("clear", help="remove every rule"))
    clear.set_defaults(run=lambda a: control(a, "DELETE", "/_sim/faults", None))

    journal = sub.add_parser("journal", help="the requests injected faults touched")
    journal.add_argument("--url", default=default_url, help="the running simulator")
    add_admin_key(journal)
    journal.add_argument("--rule", help="only this rule's entries")
    journal.add_argument("--limit", type=int, help="only the last N entries")
    journal.add_argument("--clear", action="store_true", help="empty the journal")

    def read_journal(a: argparse.Namespace) -> int:
        if a.clear:
            return control(a, "DELETE", "/_sim/journal", None)
        query = urlencode({k: v for k, v in (("rule", a.rule), ("limit", a.limit)) if v})
        return control(a, "GET", "/_sim/journal" + (f"?{query}" if query else ""), None)

    journal.set_defaults(run=read_journal)

    scenario = sub.add_parser("scenario", help="put a scenario file in force (adds to it)")
    scenario.add_argument("--url", default=default_url, help="the running simulator")
    add_admin_key(scenario)
    scenario.add_argument("file", help="a YAML or JSON scenario")
    scenario.set_defaults(run=lambda a: control(a, "POST", "/_sim/scenario", _scenario(a.file)))
