"""``/_sim/faults``, ``/_sim/journal`` and ``/_sim/scenario``: the bad-day controls.

Install, list and remove fault rules; read and clear the journal of requests they touched; put a
whole scenario (faults plus job and file behaviours) in force. Like the other ``/_sim`` controls
they act across tenants, so with keys configured they want the admin key (``require_admin``), and
they are never themselves subject to a fault.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from mock_server.core.errors import InvalidRequest
from mock_server.core.limits import limits_of
from mock_server.core.wire import too_deep
from mock_server.deps import BehavioursDep, FaultsDep, require_admin
from mock_server.faults.rules import FaultRule
from mock_server.faults.scenarios import ScenarioError, apply_scenario, parse_scenario

__all__ = ["router"]

router = APIRouter(
    prefix="/_sim", tags=["Simulator controls"], dependencies=[Depends(require_admin)]
)


async def _json(request: Request) -> Any:
    """JSON whatever the Content-Type says: ``curl -d '{...}'`` sends a form type."""
    limit = limits_of(request.scope).max_json_depth
    try:
        parsed = json.loads(await request.body() or b"{}")
    except RecursionError:
        parsed = None  # deeper than the parser goes: refused below like any too-deep body
        deep = True
    except ValueError as exc:
        raise InvalidRequest("The request body is not valid JSON") from exc
    else:
        deep = too_deep(parsed, limit)
    if deep:
        raise InvalidRequest(
            f"The request body nests arrays and objects more than {limit} levels deep"
        )
    return parsed


def _rule(data: Any, index: int | None = None) -> FaultRule:
    try:
        return FaultRule.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [*([] if index is None else [str(index)]), *(str(p) for p in first["loc"])]
        param = ".".join(loc) or None
        raise InvalidRequest(f"{param + ': ' if param else ''}{first['msg']}", param=param) from exc


@router.get("/faults")
async def list_faults(faults: FaultsDep) -> dict[str, Any]:
    return {"object": "list", "data": faults.rules()}


@router.post("/faults")
async def add_faults(request: Request, faults: FaultsDep) -> dict[str, Any]:
    """One rule, a list of rules, or ``{"faults": [...]}``. All are checked before any is added."""
    data = await _json(request)
    if isinstance(data, dict) and set(data) == {"faults"}:
        data = data["faults"]
    rules = [_rule(r, i) for i, r in enumerate(data)] if isinstance(data, list) else [_rule(data)]
    added = {rule.id for rule in faults.extend(rules)}
    return {"object": "list", "data": [r for r in faults.rules() if r["id"] in added]}


@router.delete("/faults")
async def clear_faults(faults: FaultsDep) -> dict[str, Any]:
    faults.clear()
    return {"object": "list", "data": []}


@router.delete("/faults/{id}")
async def remove_fault(id: str, faults: FaultsDep) -> dict[str, Any]:
    faults.remove(id)
    return {"id": id, "deleted": True}


@router.get("/journal")
async def read_journal(
    faults: FaultsDep,
    rule: Annotated[str | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    entries = faults.journal.entries(rule=rule, limit=limit)
    return {
        "object": "list",
        "data": [e.as_dict() for e in entries],
        "dropped": faults.journal.dropped,
    }


@router.delete("/journal")
async def clear_journal(faults: FaultsDep) -> dict[str, Any]:
    faults.journal.clear()
    return {"object": "list", "data": [], "dropped": 0}


@router.get("/scenario")
async def current_scenario(faults: FaultsDep, behaviours: BehavioursDep) -> dict[str, Any]:
    listed = behaviours.listed()
    return {
        "faults": faults.rules(),
        "jobs": [b for b in listed if b["kind"] == "job"],
        "files": [b for b in listed if b["kind"] == "file"],
    }


@router.post("/scenario")
async def add_scenario(
    request: Request, faults: FaultsDep, behaviours: BehavioursDep
) -> dict[str, Any]:
    try:
        scenario = parse_scenario(await _json(request))
    except ScenarioError as exc:
        raise InvalidRequest(str(exc), param=exc.param) from exc
    apply_scenario(scenario, faults, behaviours)
    return await current_scenario(faults, behaviours)


@router.delete("/scenario")
async def clear_scenario(faults: FaultsDep, behaviours: BehavioursDep) -> dict[str, Any]:
    faults.clear()
    behaviours.clear()
    return {"faults": [], "jobs": [], "files": []}
