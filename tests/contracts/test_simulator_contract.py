"""The simulator keeps the contract: the schemathesis suite of ``contracts/`` run in this process
against the stateful simulator (a fresh data dir, the instant clock, one accepted key).

Every operation of the pinned spec goes through schemathesis's examples, coverage and fuzzing
phases with all its checks, then the overlay's links are walked as scenarios. The budget per
operation is small so that ``make test`` stays quick; ``together-sim contract`` runs the same
suite with a larger one. The coverage table lands in ``.together-sim-contract/``.
"""

from __future__ import annotations

from pathlib import Path

from contracts.loading import RunOptions, load_contract
from contracts.pytest_tests import contract_tests, coverage_report
from contracts.target import in_process_target

CONTRACT = load_contract(in_process_target(), RunOptions(max_examples=5, max_steps=5, seed=0))
test_operation_keeps_the_contract, TestStatefulFlows = contract_tests(CONTRACT)
_contract_coverage = coverage_report(CONTRACT, Path(".together-sim-contract"))


def test_the_run_reached_every_operation_and_its_refusals() -> None:
    """Runs after the tests above (pytest keeps the module's order): what they exercised."""
    report = CONTRACT.recorder.report()
    assert [row.label for row in report.rows if not row.seen] == []
    # A request without the key, and one with a wrong key, are refused everywhere...
    assert [row.label for row in report.rows if 401 not in row.seen] == []
    # ... and so is a body broken on purpose, wherever there is a body to break.
    with_body = {
        f"{method.upper()} {path}"
        for path, item in CONTRACT.spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("requestBody")
    }
    assert [r.label for r in report.rows if r.label in with_body and 400 not in r.seen] == []
    assert report.summary()["undocumented_pairs_seen"] == 0
