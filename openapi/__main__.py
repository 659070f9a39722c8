"""``python -m openapi check``: locate Together's OpenAPI specs and compare each with its pin, and
check that the overlay still applies to each. Here, not in ``spec.py``, because it needs both
``spec`` and ``overlay`` and ``overlay`` builds on ``spec``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from openapi.locate import (
    ENV_SPEC,
    SpecError,
    SpecVersion,
    find_spec_path,
    load_pin,
    selected_version,
    sha256_file,
)
from openapi.overlay import OverlayError, check_overlay
from openapi.spec import load_spec, operations


def _check(version: SpecVersion, *, allow_download: bool) -> int:
    pin = load_pin(version)
    print(f"[{version}]")
    try:
        path = find_spec_path(version=version, allow_download=allow_download)
        sha = sha256_file(path)
        ops = operations(load_spec(path))
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        overlay = check_overlay(load_spec(path), version=version)
    except (OSError, OverlayError) as exc:
        overlay = [f"STALE: cannot apply the overlay: {exc}"]
    matches = sha == pin.sha256
    print(f"path:       {path}")
    print(f"sha256:     {sha}")
    where = pin.url or pin.source
    print(f"pin:        {'match' if matches else 'MISMATCH, pinned ' + pin.sha256} ({where})")
    print(f"operations: {len(ops)} (pinned {pin.operations})")
    print(f"overlay:    {len(overlay)} actions")
    for line in overlay:
        print(f"  {line}")
    applies = not any(line.startswith("STALE") for line in overlay)
    return 0 if matches and len(ops) == pin.operations and applies else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m openapi check``: print where each spec is, its sha256 and size.

    Every pinned version is checked, unless ``--spec-version`` names one or ``$TOGETHER_SIM_SPEC``
    names a file (then the selected version's pin is the one compared). Exit status 0 when each
    spec is found, matches its pin and the overlay still applies (every action meant for it
    selects and changes something), 1 when not, 2 when one cannot be found or loaded.
    """
    parser = argparse.ArgumentParser(
        prog="python -m openapi", description="Find and check Together's OpenAPI specs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="find the specs and compare them with the pins")
    check.add_argument("--no-download", action="store_true", help="never use the network")
    check.add_argument(
        "--spec-version",
        choices=[v.value for v in SpecVersion],
        help="check only this version (default: every pinned one)",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if args.spec_version or os.environ.get(ENV_SPEC):
            versions = [selected_version(args.spec_version)]
        else:
            versions = list(SpecVersion)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return max(_check(version, allow_download=not args.no_download) for version in versions)


if __name__ == "__main__":
    raise SystemExit(main())
