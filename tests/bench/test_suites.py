"""``python -m bench suites`` reaches ``together-sim contract`` through the command's own
parser and runner: a renamed function there must break this, not the bench on the day it runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import contracts.cli
from bench import suites


def test_the_contract_row_runs_the_command_with_its_defaults_and_reads_its_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[argparse.Namespace] = []

    def run(args: argparse.Namespace) -> int:
        seen.append(args)
        result = {
            "wall_time_s": 1.5,
            "cases": 10,
            "phase_cases": {"examples": 10},
            "operations": 3,
            "ok": True,
        }
        (Path(args.report) / "result.json").write_text(json.dumps(result))
        return 0

    monkeypatch.setattr(contracts.cli, "run", run)
    row = suites._contract_row()
    assert len(seen) == 1
    assert seen[0].base_url is None and seen[0].mode == "stateful"  # the in-process simulator
    assert row["exit_status"] == 0 and row["cases"] == 10 and row["ok"] is True
