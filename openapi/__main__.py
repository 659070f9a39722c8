"""``python -m openapi check``: locate Together's OpenAPI spec and compare it with the pin, and
check that the overlay still applies to it. Here, not in ``spec.py``, because it needs both
``spec`` and ``overlay`` and ``overlay`` builds on ``spec``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from openapi.locate import SpecError, find_spec_path, load_pin, sha256_file
from openapi.overlay import OverlayError, check_overlay
from openapi.spec import load_spec, operations


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m openapi check``: print where the spec is, its sha256 and size.

    Exit status 0 when the spec is found, matches the pin and the overlay still applies (every
    action selects and changes something), 1 when not, 2 when it cannot be found or loaded.
    """
    parser = argparse.ArgumentParser(
        prog="python -m openapi", description="Find and check Together's OpenAPI spec."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="find the spec and compare it with the pin")
    check.add_argument("--no-download", action="store_true", help="never use the network")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    pin = load_pin()
    try:
        path = find_spec_path(allow_download=not args.no_download)
        sha = sha256_file(path)
        ops = operations(load_spec(path))
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        overlay = check_overlay(load_spec(path))
    except (OSError, OverlayError) as exc:
        overlay = [f"STALE: cannot apply the overlay: {exc}"]
    matches = sha == pin.sha256
    print(f"path:       {path}")
    print(f"sha256:     {sha}")
    print(f"pin:        {'match' if matches else 'MISMATCH, pinned ' + pin.sha256} ({pin.url})")
    print(f"operations: {len(ops)} (pinned {pin.operations})")
    print(f"overlay:    {len(overlay)} actions")
    for line in overlay:
        print(f"  {line}")
    applies = not any(line.startswith("STALE") for line in overlay)
    return 0 if matches and len(ops) == pin.operations and applies else 1


if __name__ == "__main__":
    raise SystemExit(main())
