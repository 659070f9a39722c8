"""``/_sim/``: controls outside the Together surface, in the style of moto's ``/moto-api/``.

Advance the clock, make a job fail (now or at a chosen step), choose a job's trainer (synthetic or
real) while it waits, download a real job's stand-in base model, wipe all state. They act across
tenants, so they are for the person or the test running the simulator: with no key configured
anyone may use them (a laptop's simulator); with ``--api-key`` or ``--admin-key`` only the admin
key may (``require_admin``, for every route of the router).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from mock_server.core.errors import InvalidRequest
from mock_server.core.lazy_model import LazyModel
from mock_server.core.offload import off_loop
from mock_server.core.timefmt import iso
from mock_server.deps import (
    ArtifactsDep,
    ClockDep,
    ControlsDep,
    FineTuningDep,
    SettingsDep,
    require_admin,
)
from mock_server.fine_tuning.views import render_job

__all__ = ["router"]

router = APIRouter(
    prefix="/_sim", tags=["Simulator controls"], dependencies=[Depends(require_admin)]
)


M = TypeVar("M", bound=BaseModel)


async def _body(request: Request, model: type[M]) -> M:
    """JSON whatever the Content-Type says: ``curl -d '{...}'`` sends a form type."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidRequest(f"{param + ': ' if param else ''}{first['msg']}", param=param) from exc


class AdvanceRequest(LazyModel):
    # Finite: JSON's Infinity and NaN parse as floats. How far the clock may go in all is
    # Controls.advance_clock's to say.
    seconds: float = Field(ge=0, allow_inf_nan=False)


class FailRequest(LazyModel):
    kind: Literal["error", "user_error"] = "error"
    at_step: int | None = Field(default=None, ge=1)
    message: str = "Simulated failure injected through /_sim"


@router.get("/clock")
async def get_clock(clock: ClockDep, settings: SettingsDep) -> dict[str, Any]:
    return {
        "now": iso(clock.now()),
        "mode": settings.clock.value,
        "offset_seconds": clock.offset,
        "speed": settings.speed,
    }


@router.post("/advance")
async def advance_clock(
    request: Request, controls: ControlsDep, settings: SettingsDep
) -> dict[str, Any]:
    body = await _body(request, AdvanceRequest)
    await run_in_threadpool(controls.advance_clock, body.seconds)  # the offset is saved
    return await get_clock(controls.clock, settings)


@router.post("/jobs/{id}/fail")
async def fail_job(id: str, request: Request, jobs: FineTuningDep) -> dict[str, Any]:
    body = await _body(request, FailRequest)
    job = await run_in_threadpool(
        jobs.fail_job, id, kind=body.kind, at_step=body.at_step, message=body.message
    )
    return render_job(job, seconds_remaining=jobs.seconds_remaining(job))


class TrainerRequest(LazyModel):
    trainer: Literal["synthetic", "real"]


@router.post("/jobs/{id}/trainer")
async def set_trainer(id: str, request: Request, jobs: FineTuningDep) -> dict[str, Any]:
    """Who trains the job: allowed while it is pending or queued."""
    body = await _body(request, TrainerRequest)
    job = await run_in_threadpool(jobs.set_trainer, id, body.trainer)
    return {
        **render_job(job, seconds_remaining=jobs.seconds_remaining(job)),
        "trainer": job.trainer,
    }


@router.get("/jobs/{id}/base", response_model=None)
@off_loop  # builds the archive on first ask
def download_base(id: str, artifacts: ArtifactsDep) -> FileResponse:
    """The stand-in base model a real job trained (config, weights, tokenizer) as tar.zst: what
    its downloaded adapter loads onto with ``PeftModel.from_pretrained``."""
    path = artifacts.base_archive(id)
    return FileResponse(path, media_type="application/octet-stream", filename=f"{id}-base.tar.zst")


@router.post("/reset")
@off_loop
def reset(controls: ControlsDep) -> dict[str, Any]:
    controls.reset()
    return {"reset": True}
