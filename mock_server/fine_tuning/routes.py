"""Fine-tuning: create, list, retrieve, cancel, delete, events, checkpoints, metrics, price,
model limits, and the model download (with the Range requests the CLI's downloader makes).

Every handler that reads the store (or builds an archive) runs in a worker thread (``off_loop``),
so the loop goes on answering the polls that kept views serve meanwhile; the poll's own reads (a
job, its events, its checkpoints) run on the loop when they can do so without waiting
(``loop_first``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from pydantic import ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.core.errors import InvalidRequest
from mock_server.core.lazy_model import LazyModel
from mock_server.core.offload import loop_first, off_loop
from mock_server.core.timefmt import parse_iso
from mock_server.deps import ArtifactsDep, FineTuningDep, TenantDep, UpperCaseEventsDep
from mock_server.fine_tuning.events import render_event
from mock_server.fine_tuning.models import Job
from mock_server.fine_tuning.requests import FineTuneRequest, PriceRequest
from mock_server.fine_tuning.service import FineTuning
from mock_server.fine_tuning.views import render_job
from mock_server.spec.routing import SpecRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Fine-tuning"], route_class=SpecRoute)


def _job(jobs: FineTuning, job: Job) -> dict[str, Any]:
    return render_job(job, seconds_remaining=jobs.seconds_remaining(job))


@router.post("/fine-tunes")
@off_loop
def create_fine_tune(
    body: FineTuneRequest, jobs: FineTuningDep, tenant: TenantDep
) -> dict[str, Any]:
    return _job(jobs, jobs.create_job(tenant, body))


@router.get("/fine-tunes")
@off_loop
def list_fine_tunes(jobs: FineTuningDep, tenant: TenantDep) -> dict[str, Any]:
    listed = sorted(jobs.jobs(tenant), key=lambda j: j.created_at, reverse=True)
    return {"object": "list", "data": [_job(jobs, j) for j in listed]}


@router.post("/fine-tunes/estimate-price")
@off_loop
def estimate_price(body: PriceRequest, jobs: FineTuningDep, tenant: TenantDep) -> dict[str, Any]:
    return jobs.estimate_price(tenant, body)


@router.get("/fine-tunes/models/supported")
async def supported_models(tenant: TenantDep) -> dict[str, Any]:
    return {"models": catalogue.supported(), "detailed_models": catalogue.supported_detailed()}


@router.get("/fine-tunes/models/limits")
@off_loop
def model_limits(model_name: str, jobs: FineTuningDep, tenant: TenantDep) -> dict[str, Any]:
    return jobs.limits(tenant, model_name)


@router.get("/fine-tunes/{id}", response_model=None)
@loop_first
def retrieve_fine_tune(
    id: str, jobs: FineTuningDep, tenant: TenantDep, upper: UpperCaseEventsDep
) -> Response:
    # Bytes, not a dict: FastAPI would otherwise validate the returned dict against the
    # annotation on every poll, for nothing.
    body = jobs.job_view(tenant, id, upper_case_types=upper)
    return Response(body, media_type="application/json")


@router.delete("/fine-tunes/{id}")
@off_loop
def delete_fine_tune(
    id: str, jobs: FineTuningDep, tenant: TenantDep, force: bool = False
) -> dict[str, Any]:
    jobs.delete_job(tenant, id)
    return {"message": f"Fine-tune job {id} deleted", "id": id, "deleted": True}


@router.post("/fine-tunes/{id}/cancel")
@off_loop
def cancel_fine_tune(id: str, jobs: FineTuningDep, tenant: TenantDep) -> dict[str, Any]:
    return _job(jobs, jobs.cancel(tenant, id))


@router.get("/fine-tunes/{id}/events")
@loop_first
def list_events(
    id: str, jobs: FineTuningDep, tenant: TenantDep, upper: UpperCaseEventsDep
) -> dict[str, Any]:
    events = jobs.events(tenant, id)
    return {"object": "list", "data": [render_event(e, upper_case_types=upper) for e in events]}


@router.get("/fine-tunes/{id}/checkpoints")
@loop_first
def list_checkpoints(id: str, jobs: FineTuningDep, tenant: TenantDep) -> dict[str, Any]:
    return {"object": "list", "data": [c.render() for c in jobs.checkpoints(tenant, id)]}


_INT64 = 2**63  # the spec's global steps are int64, and so is what SQLite compares them with
Step = Annotated[int | None, Field(ge=-_INT64, lt=_INT64)]


class MetricsFilter(LazyModel):
    # Unknown fields are ignored: the spec's body schema allows them (no additionalProperties:
    # false), and the query parameters of a proxied request may come along. The spec checks a
    # body; query parameters are checked only here, so the bounds are here too.
    model_config = ConfigDict(extra="ignore")
    global_step_from: Step = None
    global_step_to: Step = None
    logged_at_from: str | None = None
    logged_at_to: str | None = None
    # Not in the pinned spec; SDK 3.1.1 sends it, and its CLI's text-mode ``retrieve`` sizes
    # its loss plot with it: "Number of (uniformly sampled) train metrics to return". 0 is
    # unset (as 3.1.1's own tests send it): every metric.
    resolution: int | None = Field(default=None, ge=0, lt=_INT64)


def _moment(value: str | None, param: str) -> datetime | None:
    if value is None:
        return None
    try:  # in UTC, as the store compares times: an offset may take year 1 or 9999 out of range
        return parse_iso(value).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidRequest(
            f"{param} must be an ISO-8601 time from year 1 to 9999 in UTC (got {value!r})",
            param=param,
        ) from exc


@router.get("/fine-tunes/{id}/metrics")
async def get_metrics(
    id: str, request: Request, jobs: FineTuningDep, tenant: TenantDep
) -> dict[str, Any]:
    # A GET with an optional JSON body, as the spec has it; query parameters work too.
    raw = await request.body()
    try:  # validated by hand, so failures must be turned into the 400 FastAPI would give
        given = (
            MetricsFilter.model_validate_json(raw)
            if raw.strip()
            else MetricsFilter.model_validate(dict(request.query_params))
        )
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    points = await run_in_threadpool(
        jobs.metrics,
        tenant,
        id,
        step_from=given.global_step_from,
        step_to=given.global_step_to,
        logged_from=_moment(given.logged_at_from, "logged_at_from"),
        logged_to=_moment(given.logged_at_to, "logged_at_to"),
    )
    if given.resolution and len(points) > given.resolution:
        stride = len(points) / given.resolution
        points = [points[int(i * stride)] for i in range(given.resolution)]
    return {"metrics": [p.values for p in points]}


@router.get("/finetune/download", response_model=None)
@off_loop
def download(
    ft_id: str,
    jobs: FineTuningDep,
    artifacts: ArtifactsDep,
    tenant: TenantDep,
    checkpoint: Literal["merged", "adapter", "model_output_path"] | None = None,
    checkpoint_step: int | None = None,
) -> FileResponse:
    path = artifacts.archive(tenant, ft_id, checkpoint, checkpoint_step)
    job = jobs.job(tenant, ft_id)
    name = job.model_output_name.replace("/", "--") + (
        f"-checkpoint-{checkpoint_step}" if checkpoint_step else ""  # 0 means the final model
    )
    # octet-stream, not x-tar: the clients name the file .tar.zst unless they see "x-tar".
    return FileResponse(path, media_type="application/octet-stream", filename=f"{name}.tar.zst")
