"""``together-sim contract``: the contract suite against a base URL, from the command line.

    together-sim contract --base-url http://127.0.0.1:8000 --api-key KEY --stateful
    together-sim contract                      # the simulator in this process (--mode examples)
    TOGETHER_API_KEY=... together-sim contract --base-url https://api.together.xyz --real-service-ok

It runs schemathesis's engine (``contracts.runner``) and prints each failure with a ``curl`` that
reproduces it, the operations left out and why, the coverage table (also written as Markdown and
JSON under ``--report``) and the wall time. The exit status is 0 when every check held, 1 when
one failed or an operation could not be tested, 2 when the target was refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["configure", "run"]


def configure(command: argparse.ArgumentParser) -> None:
    """Fill in the ``contract`` sub-command that ``mock_server/cli.py`` declares (with its one-line
    help): it calls this only when ``contract`` runs, so the product CLI never loads ``contracts``
    for its other commands."""
    command.description = __doc__
    command.formatter_class = argparse.RawDescriptionHelpFormatter
    command.add_argument(
        "--base-url", help="the server root (default: the simulator built in this process)"
    )
    command.add_argument(
        "--mode",
        choices=["stateful", "examples"],
        default="stateful",
        help="the in-process simulator's mode, when no --base-url is given",
    )
    command.add_argument("--api-key", help="the key a simulator accepts (real service: env only)")
    command.add_argument("--max-examples", type=int, default=20, help="per operation and phase")
    command.add_argument(
        "--stateful", action="store_true", help="also walk the overlay's links as scenarios"
    )
    command.add_argument(
        "--phases",
        help="comma-separated phases instead (examples, coverage, fuzzing, stateful)",
    )
    command.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only operations matching 'METHOD /path' (shell pattern; repeatable)",
    )
    command.add_argument(
        "--exclude", action="append", default=[], metavar="PATTERN", help="leave these out"
    )
    command.add_argument(
        "--real-service-ok",
        action="store_true",
        help="allow Together's own hosts (needs TOGETHER_API_KEY; paid operations stay out "
        "unless --include names them)",
    )
    command.add_argument(
        "--stateless",
        action="store_true",
        help="the target keeps no state (serve --mode examples, Prism): no use_after_free",
    )
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--workers", type=int, default=1, help="schemathesis worker threads")
    command.add_argument(
        "--report",
        type=Path,
        default=Path(".together-sim-contract"),
        help="directory for coverage.md, coverage.json and result.json",
    )
    command.set_defaults(run=run)


def _phases(args: argparse.Namespace) -> tuple[str, ...]:
    if args.phases:
        return tuple(p.strip() for p in args.phases.split(",") if p.strip())
    return ("examples", "coverage", "fuzzing", *(("stateful",) if args.stateful else ()))


def run(args: argparse.Namespace) -> int:
    from contracts.loading import PHASES, RunOptions, load_contract
    from contracts.runner import run_contract
    from contracts.target import RealServiceRefused, in_process_target, url_target

    phases = _phases(args)
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        print(f"unknown phases {unknown}: choose from {', '.join(PHASES)}", file=sys.stderr)
        return 2
    try:
        target = (
            url_target(
                args.base_url,
                api_key=args.api_key,
                real_service_ok=args.real_service_ok,
                stateless=args.stateless,
            )
            if args.base_url
            else in_process_target(mode=args.mode)
        )
    except (RealServiceRefused, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    options = RunOptions(
        max_examples=args.max_examples,
        phases=phases,
        include=tuple(args.include),
        exclude=tuple(args.exclude),
        seed=args.seed,
        workers=args.workers,
    )
    try:
        contract = load_contract(target, options)
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(
        f"contract: {target.label}, {len(contract.selection.selected)} operations, "
        f"phases {', '.join(phases)}, {args.max_examples} examples, seed {args.seed}",
        flush=True,
    )
    result = run_contract(contract)
    for finding in [*result.failures, *result.errors]:
        print(finding.describe(), end="\n\n")
    for label, reason in result.skipped.items():
        print(f"left out: {label}: {reason}")
    for line in contract.known_gaps.summary():
        print(line)
    for line in contract.valid_inputs.summary() if contract.valid_inputs else ():
        print(line)
    if target.app is not None:  # only the simulator in this process is surely the simulator
        for gap in contract.known_gaps.stale(contract.selection.selected):
            print(f"known gap not seen in this run (fixed? delete it): {gap.operation}")
    written = result.coverage.write(args.report)
    (args.report / "result.json").write_text(json.dumps(result.as_json(), indent=2) + "\n")
    print()
    print(result.coverage.markdown())
    print(f"coverage table: {written[0]}")
    print(result.summary())
    return 0 if result.ok else 1
