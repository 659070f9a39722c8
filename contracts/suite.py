"""The contract suite as pytest tests: one test per operation, and one for the stateful flows.

Run it as it is (``pytest --pyargs contracts.suite``), or import it into a test module of your
own (``from contracts.suite import *``). With no configuration it targets the simulator built in
this process with a fresh data dir (schemathesis calls the app through its ASGI transport); the
environment points it elsewhere:

- ``TOGETHER_SIM_CONTRACT_BASE_URL``: a running server (``TOGETHER_SIM_CONTRACT_API_KEY`` the key
  it accepts). Together's own hosts need ``TOGETHER_SIM_CONTRACT_REAL_OK=1`` and
  ``TOGETHER_API_KEY``, and leave out the operations that cost money (``contracts.selection``).
- ``TOGETHER_SIM_CONTRACT_MODE=examples``: the in-process simulator in examples mode.
- ``TOGETHER_SIM_CONTRACT_MAX_EXAMPLES`` (default 20), ``..._SEED``, ``..._PHASES``
  (comma-separated: examples, coverage, fuzzing, stateful), ``..._MAX_STEPS``,
  ``..._INCLUDE`` / ``..._EXCLUDE`` (comma-separated patterns on ``"METHOD /path"``),
  ``..._REPORT_DIR`` (where ``coverage.md`` and ``coverage.json`` go; default
  ``.together-sim-contract``).

To fix the target in code instead, see ``contracts.pytest_tests``.
"""

from __future__ import annotations

import os
from pathlib import Path

from contracts.loading import Contract, load_contract, options_from_env
from contracts.pytest_tests import contract_tests, coverage_report
from contracts.target import target_from_env

__all__ = ["CONTRACT", "TestStatefulFlows", "test_operation_keeps_the_contract"]

CONTRACT: Contract = load_contract(target_from_env(), options_from_env())
test_operation_keeps_the_contract, TestStatefulFlows = contract_tests(CONTRACT)
_contract_coverage = coverage_report(
    CONTRACT, Path(os.environ.get("TOGETHER_SIM_CONTRACT_REPORT_DIR", ".together-sim-contract"))
)
