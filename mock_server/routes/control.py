"""``/_sim/``: controls outside the Together surface, in the style of moto's ``/moto-api/``.

Advance the clock, make a job fail (now or at a chosen step), wipe all state. They act across
tenants and need no key: they are for the person or the test running the simulator.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mock_server.deps import BackendDep, SettingsDep
from mock_server.fine_tunes import render_job
from mock_server.timefmt import iso

__all__ = ["router"]

router = APIRouter(prefix="/_sim", tags=["Simulator controls"])


class AdvanceRequest(BaseModel):
    seconds: float = Field(ge=0)


class FailRequest(BaseModel):
    kind: Literal["error", "user_error"] = "error"
    at_step: int | None = Field(default=None, ge=1)
    message: str = "Simulated failure injected through /_sim"


@router.get("/clock")
async def get_clock(backend: BackendDep, settings: SettingsDep) -> dict[str, Any]:
    return {
        "now": iso(backend.clock.now()),
        "mode": settings.clock.value,
        "offset_seconds": backend.clock.offset,
        "speed": settings.speed,
    }


@router.post("/advance")
async def advance_clock(
    body: AdvanceRequest, backend: BackendDep, settings: SettingsDep
) -> dict[str, Any]:
    backend.advance_clock(body.seconds)
    return await get_clock(backend, settings)


@router.post("/jobs/{id}/fail")
async def fail_job(id: str, body: FailRequest, backend: BackendDep) -> dict[str, Any]:
    job = backend.fail_job(id, kind=body.kind, at_step=body.at_step, message=body.message)
    return render_job(job, seconds_remaining=backend.seconds_remaining(job))


@router.post("/reset")
async def reset(backend: BackendDep) -> dict[str, Any]:
    backend.reset()
    return {"reset": True}
