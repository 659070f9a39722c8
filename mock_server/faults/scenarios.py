"""Scenario files: a bad day written down, so a team can keep a library of them and replay them.

A scenario (YAML or JSON) holds fault rules for the HTTP surface (faults.py) and behaviours for
jobs and files (behaviours.py)::

    name: job-dies-at-step-40
    seed: 7                      # the fault random source, so probabilities replay
    faults:
      - {id: slow-polls, operation: "GET /v1/fine-tunes/{id}", latency: {uniform: [0.1, 0.4]}}
    jobs:
      - {suffix: "nightly-*", fail: {at_step: 40, message: "CUDA out of memory"}}
    files:
      - {filename: "*broken*", invalid: "Line 3: missing messages", line: 3}

Parsing is strict: an unknown key anywhere is an error that names the file and the key. A
scenario is loaded at startup (``--faults FILE`` / ``TOGETHER_SIM_FAULTS``), where it becomes the
baseline that ``/_sim/reset`` returns to, or at run time (``POST /_sim/scenario``,
``together-sim scenario FILE``, ``apply_scenario``), where it adds to what is in force.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from mock_server.core.lazy_model import LazyModel
from mock_server.faults.behaviours import Behaviours, FileBehaviour, JobBehaviour
from mock_server.faults.registry import Faults
from mock_server.faults.rules import FaultRule

__all__ = ["Scenario", "ScenarioError", "apply_scenario", "load_scenario", "parse_scenario"]


class ScenarioError(ValueError):
    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param  # the first field at fault, "faults.0.path_regex"


class Scenario(LazyModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    description: str | None = None
    seed: int | None = None
    faults: list[FaultRule] = Field(default_factory=list)
    jobs: list[JobBehaviour] = Field(default_factory=list)
    files: list[FileBehaviour] = Field(default_factory=list)


def _explain(exc: ValidationError, where: str) -> str:
    lines = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"])
        lines.append(f"{where}: {loc}: {error['msg']}" if loc else f"{where}: {error['msg']}")
    return "\n".join(lines)


def parse_scenario(data: Any, *, where: str = "scenario") -> Scenario:
    if isinstance(data, Scenario):
        return data
    try:
        return Scenario.model_validate(data or {})
    except ValidationError as exc:
        first = ".".join(str(p) for p in exc.errors()[0]["loc"]) or None
        raise ScenarioError(_explain(exc, where), param=first) from exc


def load_scenario(path: str | Path) -> Scenario:
    import yaml  # here: PyYAML is a noticeable share of startup, and most runs load no scenario

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return parse_scenario(data, where=str(path))


def apply_scenario(
    scenario: Scenario, faults: Faults, behaviours: Behaviours, *, baseline: bool = False
) -> None:
    """Put a scenario in force: as the baseline (replacing what was there; startup) or added to
    what is in force (run time)."""
    kept: list[JobBehaviour | FileBehaviour] = [*scenario.jobs, *scenario.files]
    if baseline:
        faults.set_baseline(scenario.faults, seed=scenario.seed)
        behaviours.set_baseline(kept)
        return
    if scenario.seed is not None:
        faults.reseed(scenario.seed)
    faults.extend(scenario.faults)
    for behaviour in kept:
        behaviours.add(behaviour)
