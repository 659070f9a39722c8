"""pytest tests built from a ``Contract``: one test per operation, one ``TestCase`` for the flows.

``contracts.suite`` builds them from the environment; a test module that fixes its own target
builds them here (``contract_tests(load_contract(target, options))``), as this repository's own
tests do. Each test sends the target's key explicitly, so ``ignored_auth`` knows the key is the
caller's and checks that the same request without it, and with a wrong one, is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from schemathesis import Case, Response

from contracts.loading import Contract

__all__ = ["contract_tests", "coverage_report"]


def _per_operation(contract: Contract) -> Callable[..., None]:
    auth = contract.auth_headers

    @contract.schema.parametrize()
    def test_operation_keeps_the_contract(case: Case[Any]) -> None:
        case.call_and_validate(headers=auth)

    return test_operation_keeps_the_contract  # type: ignore[no-any-return]


def _stateful(contract: Contract) -> type:
    """The overlay's links walked as scenarios: create, then read, change, delete, read again."""
    auth = contract.auth_headers
    if (
        "stateful" not in contract.options.phases
        or not contract.schema.statistic.transitions.selected
    ):

        class NoFlows:
            @pytest.mark.skip(
                reason="no stateful phase, or no link between the selected operations"
            )
            def test_flows(self) -> None: ...

        return NoFlows

    class Flows(contract.schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"headers": auth}

        def validate_response(
            self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            __tracebackhide__ = True
            case.validate_response(
                response,
                additional_checks=additional_checks,
                headers=auth,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    test_case: type = Flows.TestCase
    test_case.settings = hypothesis.settings(  # type: ignore[attr-defined]
        max_examples=contract.options.max_examples,
        stateful_step_count=contract.options.max_steps,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    return test_case


def coverage_report(contract: Contract, directory: Path) -> Any:
    """A module-scoped autouse fixture that writes ``contract``'s coverage table into
    ``directory`` after the module's tests and prints its summary line."""

    @pytest.fixture(scope="module", autouse=True)
    def _contract_coverage(request: pytest.FixtureRequest) -> Iterator[None]:
        yield
        report = contract.recorder.report()
        written = report.write(directory)
        plugins = request.config.pluginmanager
        reporter, capture = (
            plugins.get_plugin("terminalreporter"),
            plugins.get_plugin("capturemanager"),
        )
        if reporter is None or capture is None:
            return
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            reporter.write_line("")
            reporter.write_line(f"contract {contract.target.label}: {report.summary_line()}")
            for line in contract.known_gaps.summary():
                reporter.write_line(line)
            for line in contract.valid_inputs.summary() if contract.valid_inputs else ():
                reporter.write_line(line)
            reporter.write_line(f"coverage table: {written[0]}")

    return _contract_coverage


def contract_tests(contract: Contract) -> tuple[Callable[..., None], type]:
    """The per-operation test function and the stateful ``TestCase`` for ``contract``."""
    return _per_operation(contract), _stateful(contract)
