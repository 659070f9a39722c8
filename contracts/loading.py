"""The pinned spec, with the overlay, turned into a schemathesis schema aimed at one target.

The spec is ``openapi.spec.load_spec`` (never a copy) with ``openapi/overlay.yaml`` applied, so
the links that drive the stateful run and the statuses the service is known to answer come from
the same place the simulator's ``/openapi.json`` does. Its ``servers`` are rewritten to the
target: the document's ``/v1`` and the per-operation ``/v2`` (videos) alike, so that no request
of a run against a simulator can leak to Together's hosts.

The schemathesis configuration is ``contracts/schemathesis.toml`` plus what depends on the run:
the key, the seed, the example budget, the phases, and entries that switch ``use_after_free`` off
where the target cannot remember a delete (a stateless target, or the simulator's generic
layer). Against the real service, values seen in responses are not reused in later requests
(they would be the user's own files and jobs).
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from contracts.check_rules import CHECK_RULES
from contracts.coverage import CoverageRecorder, documented_statuses
from contracts.known_gaps import KnownGaps
from contracts.selection import Selection, select
from contracts.target import Target
from contracts.valid_inputs import ValidInputs

if TYPE_CHECKING:
    from schemathesis import Case, HookContext, Response
    from schemathesis.config import SchemathesisConfig
    from schemathesis.schemas import BaseSchema

__all__ = [
    "CONFIG_PATH",
    "PHASES",
    "Contract",
    "RunOptions",
    "cap_generation",
    "contract_config",
    "load_contract",
    "options_from_env",
    "target_spec",
]

CONFIG_PATH = Path(__file__).with_name("schemathesis.toml")
PHASES = ("examples", "coverage", "fuzzing", "stateful")
_TOKEN_CAP = 4  # max_tokens of a chat or completion sent to the real service
_CAPPED = frozenset({"POST /chat/completions", "POST /completions"})


@dataclass(frozen=True)
class RunOptions:
    max_examples: int = 20
    phases: tuple[str, ...] = PHASES  # "stateful" runs the links of openapi/overlay.yaml
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    seed: int = 0
    workers: int = 1
    max_steps: int = 6  # requests per stateful scenario


def _listed(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def options_from_env(env: Mapping[str, str] = os.environ) -> RunOptions:
    """``TOGETHER_SIM_CONTRACT_*`` variables (see ``contracts.suite``) over the defaults."""
    default = RunOptions()

    def number(name: str, fallback: int) -> int:
        return int(env.get(f"TOGETHER_SIM_CONTRACT_{name}") or fallback)

    phases = _listed(env.get("TOGETHER_SIM_CONTRACT_PHASES")) or default.phases
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise ValueError(f"unknown phases {sorted(unknown)}: choose from {', '.join(PHASES)}")
    return RunOptions(
        max_examples=number("MAX_EXAMPLES", default.max_examples),
        phases=phases,
        include=_listed(env.get("TOGETHER_SIM_CONTRACT_INCLUDE")),
        exclude=_listed(env.get("TOGETHER_SIM_CONTRACT_EXCLUDE")),
        seed=number("SEED", default.seed),
        max_steps=number("MAX_STEPS", default.max_steps),
    )


@dataclass
class Contract:
    """Everything a run needs: the schema (selected operations only), why the others are out,
    and the recorder its hooks feed."""

    target: Target
    options: RunOptions
    schema: BaseSchema
    selection: Selection
    recorder: CoverageRecorder
    spec: dict[str, Any] = field(repr=False)
    known_gaps: KnownGaps = field(default_factory=lambda: KnownGaps(gaps=()))
    valid_inputs: ValidInputs | None = None

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.target.api_key}"}


def target_spec(target: Target, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The overlaid spec with every ``servers`` entry moved onto the target's scheme and host."""
    from openapi.overlay import overlaid_spec

    document = copy.deepcopy(overlaid_spec(spec))
    root = target.base_url.rstrip("/")

    def moved(servers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**server, "url": root + urlsplit(str(server["url"])).path} for server in servers]

    document["servers"] = moved(document.get("servers") or [{"url": "/v1"}])
    for item in (document.get("paths") or {}).values():
        if "servers" in item:
            item["servers"] = moved(item["servers"])
        for operation in item.values():
            if isinstance(operation, dict) and "servers" in operation:
                operation["servers"] = moved(operation["servers"])
    return document


def contract_config(
    target: Target, options: RunOptions, selection: Selection
) -> SchemathesisConfig:
    from schemathesis.config import SchemathesisConfig

    data: dict[str, Any] = tomllib.loads(CONFIG_PATH.read_text(encoding="utf-8"))
    # schemathesis takes only the path of the document's `servers` (the host comes from where
    # a schema was loaded from); a dict has no such place, so the base URL is given outright.
    data["base-url"] = target.base_url.rstrip("/") + "/v1"
    data["seed"] = options.seed
    data["workers"] = options.workers
    data["headers"] = {"Authorization": f"Bearer {target.api_key}"}
    data.setdefault("generation", {})["max-examples"] = options.max_examples
    phases = data.setdefault("phases", {})
    for phase in PHASES:
        phases.setdefault(phase, {})["enabled"] = phase in options.phases
    phases["stateful"]["max-steps"] = options.max_steps
    checks = data.setdefault("checks", {})
    operations = data.setdefault("operations", [])
    if selection.skipped:
        # Selection is configuration too: schemathesis drops a schema's include() filter once
        # the config has [[operations]] entries of its own.
        operations.insert(0, {"include-name": sorted(selection.skipped), "enabled": False})
    if target.stateless:
        # Nothing is kept, so a read after a delete answers as before it: use_after_free is a
        # check of state this target does not claim to have.
        checks["use_after_free"] = {"enabled": False}
    else:
        stateless = sorted(set(selection.selected) & target.generic_operations)
        if stateless:
            # The simulator's generic layer answers these from the spec and keeps nothing (see
            # mock_server/spec/fallback.py); each family leaves this list when a domain module
            # takes it over.
            operations.append(
                {"include-name": stateless, "checks": {"use_after_free": {"enabled": False}}}
            )
    if target.real:
        for phase in ("examples", "coverage", "fuzzing"):
            phases[phase]["extra-data-sources"] = {"responses": False}
    return SchemathesisConfig.from_dict(data, base_dir=str(CONFIG_PATH.parent))


def cap_generation(body: Any) -> Any:
    """A chat or completion body that cannot spend more than a few tokens."""
    if isinstance(body, dict):
        tokens = body.get("max_tokens")
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens > _TOKEN_CAP:
            body["max_tokens"] = _TOKEN_CAP
        if "n" in body:
            body["n"] = 1
    return body


def _recording(recorder: CoverageRecorder) -> Callable[[HookContext, Case[Any], Response], None]:
    def after_call(context: HookContext, case: Case[Any], response: Response) -> None:
        # The coverage phase also sends methods the spec does not list (expecting 405): those
        # probe the path, not the operation, so they are not counted against it.
        if case.method.upper() == case.operation.method.upper():
            recorder.record(case.operation.label, response.status_code)

    return after_call


def _capping(context: HookContext, body: Any) -> Any:
    operation = context.operation
    return cap_generation(body) if operation is not None and operation.label in _CAPPED else body


def load_contract(
    target: Target, options: RunOptions | None = None, *, spec: Mapping[str, Any] | None = None
) -> Contract:
    """The schema for ``target``, its operations chosen by ``options``, hooks installed."""
    import schemathesis

    options = options or RunOptions()
    document = target_spec(target, spec)
    statuses = documented_statuses(document)
    selection = select(statuses, include=options.include, exclude=options.exclude, real=target.real)
    if not selection.selected:
        raise ValueError("no operation is selected (see --include and --exclude)")
    config = contract_config(target, options, selection)
    schema = schemathesis.openapi.from_dict(document, config=config)
    if target.app is not None:
        schema.app = target.app  # first: operations take the app when they are first built
    if "stateful" in options.phases and not schema.statistic.transitions.selected:
        schema.config.phases.stateful.enabled = False  # no link joins the selected operations
    recorder = CoverageRecorder(statuses, selection.selected)
    schema.hooks.register_hook_with_name(_recording(recorder), "after_call")
    # Known gaps are the stateful simulator's; the real service's failures are findings.
    known_gaps = KnownGaps() if not (target.real or target.stateless) else KnownGaps(gaps=())
    schema.hooks.register_hook_with_name(known_gaps.hook(), "filter_failure")
    for rule in CHECK_RULES:
        schema.hooks.register_hook_with_name(rule, "filter_failure")
    if target.real:
        schema.hooks.register_hook_with_name(_capping, "map_body")
    # A share of the creates gets values the target holds valid, so that the links from them
    # are walked (contracts/valid_inputs.py).
    valid_inputs = ValidInputs(target, frozenset(selection.selected))
    schema.hooks.register_hook_with_name(valid_inputs.hook(), "flatmap_case")

    return Contract(
        target, options, schema, selection, recorder, document, known_gaps, valid_inputs
    )
