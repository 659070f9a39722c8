"""One contract run through schemathesis's engine, the machinery behind ``st run``.

The engine runs the phases of ``schemathesis.toml`` over every selected operation (the spec's
examples, the coverage phase's boundary and negative cases, property-based fuzzing) and then the
stateful phase, which walks the overlay's links. Its event stream is folded here into a
``RunResult``: the failures, one per (check, operation, title) with a count and a ``curl`` that
reproduces the first, the errors that kept an operation from being tested, the case count, the
coverage table, and the wall time (the benchmark reports it as "schemathesis over all
operations").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from contracts.coverage import CoverageReport
from contracts.loading import Contract

__all__ = ["Finding", "RunResult", "run_contract"]


@dataclass
class Finding:
    """A check that failed, or an operation that could not be tested (``check == "error"``)."""

    check: str
    operation: str
    title: str
    message: str
    reproduce: str = ""
    answer: str = ""  # the status and the start of the body that failed the check
    count: int = 1

    def describe(self) -> str:
        lines = [f"[{self.check}] {self.operation}: {self.title} (x{self.count})"]
        lines += ["    " + line for line in self.message.strip().splitlines()[:12]]
        if self.answer:
            lines.append("    answer: " + self.answer)
        if self.reproduce:
            lines.append("    reproduce: " + self.reproduce.strip().replace("\n", " "))
        return "\n".join(lines)


@dataclass
class RunResult:
    target: str
    failures: list[Finding]
    errors: list[Finding]
    cases: int
    operations: int
    wall_time_s: float
    coverage: CoverageReport
    skipped: dict[str, str] = field(default_factory=dict)
    phase_cases: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "operations": self.operations,
            "cases": self.cases,
            "phase_cases": self.phase_cases,
            "wall_time_s": round(self.wall_time_s, 3),
            "failures": [vars(f) for f in self.failures],
            "errors": [vars(e) for e in self.errors],
            "skipped": self.skipped,
            "coverage": self.coverage.summary(),
        }

    def summary(self) -> str:
        phases = ", ".join(f"{phase} {count}" for phase, count in self.phase_cases.items())
        return (
            f"{self.target}: {self.operations} operations, {self.cases} cases ({phases}), "
            f"{sum(f.count for f in self.failures)} failures in {len(self.failures)} kinds, "
            f"{len(self.errors)} errors, {self.wall_time_s:.1f} s wall time"
        )


def _answer(interaction: Any) -> str:
    response = getattr(interaction, "response", None)
    if response is None:
        return ""
    body = (response.content or b"")[:240].decode("utf-8", "replace")
    return f"{response.status_code} {body}"


def _key(finding: Finding) -> tuple[str, str, str]:
    return (finding.check, finding.operation, finding.title)


def run_contract(contract: Contract) -> RunResult:
    from schemathesis.engine import events, from_schema

    findings: dict[tuple[str, str, str], Finding] = {}
    errors: dict[tuple[str, str, str], Finding] = {}
    phase_cases: dict[str, int] = {}
    cases = 0
    started = time.perf_counter()
    for event in from_schema(contract.schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases += len(recorder.cases)
            phase = event.phase.value
            phase_cases[phase] = phase_cases.get(phase, 0) + len(recorder.cases)
            for case_id, checks in recorder.checks.items():
                node = recorder.cases.get(case_id)
                label = node.value.operation.label if node else (event.label or "?")
                for check in checks:
                    info = check.failure_info
                    if check.status.value != "failure" or info is None:
                        continue
                    failure = info.failure
                    finding = Finding(
                        check.name,
                        failure.operation or label,
                        failure.title,
                        failure.message,
                        info.code_sample,
                        _answer(recorder.interactions.get(case_id)),
                    )
                    if _key(finding) in findings:
                        findings[_key(finding)].count += 1
                    else:
                        findings[_key(finding)] = finding
        elif isinstance(event, events.NonFatalError):
            message = event.info.message if hasattr(event.info, "message") else str(event.value)
            error = Finding("error", event.label, type(event.value).__name__, str(message))
            errors.setdefault(_key(error), error)
        elif isinstance(event, events.FatalError):
            raise event.exception
    wall = time.perf_counter() - started
    return RunResult(
        target=contract.target.label,
        failures=list(findings.values()),
        errors=list(errors.values()),
        cases=cases,
        operations=len(contract.selection.selected),
        wall_time_s=wall,
        coverage=contract.recorder.report(),
        skipped=dict(contract.selection.skipped),
        phase_cases=phase_cases,
    )
