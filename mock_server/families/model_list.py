"""``GET /v1/models``: the catalogue's models, then the tenant's completed fine-tunes and uploaded
models (``POST /models``, served with ``families/model_uploads.py``). The account lookup the 3.x
CLI makes before every command (``GET /v3/whoami``) is ``projects/routes.py``'s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.catalogue import serverless as serverless_models
from mock_server.core.offload import off_loop
from mock_server.core.timefmt import unix
from mock_server.deps import ClockDep, FineTuningDep, StoreDep, TenantDep
from mock_server.families.model_uploads import uploaded_models
from mock_server.fine_tuning.models import JobStatus
from mock_server.spec.routing import SpecRoute

__all__ = ["router"]

router = APIRouter(tags=["Models"], route_class=SpecRoute)


@router.get("/v1/models")
@off_loop
def list_models(
    jobs: FineTuningDep,
    store: StoreDep,
    clock: ClockDep,
    tenant: TenantDep,
    dedicated: bool | None = None,
) -> list[dict[str, Any]]:
    # ``dedicated`` is read only to refuse what is not a boolean (400, as from the service): the
    # simulator does not tell serverless from dedicated-only models, so it filters nothing.
    del dedicated
    models: list[dict[str, Any]] = []
    for name in catalogue.supported():
        entry = catalogue.get(name)
        assert entry is not None
        models.append(
            {
                "id": name,
                "object": "model",
                "created": 1_700_000_000,
                "type": "chat",
                "display_name": name.rsplit("/", 1)[-1],
                "organization": name.split("/", 1)[0],
                "context_length": entry.context_length,
            }
        )
    models += serverless_models.listed()  # embedding, rerank and image models
    for job in jobs.jobs(tenant):
        if job.status is JobStatus.completed:
            models.append(
                {
                    "id": job.model_output_name,
                    "object": "model",
                    "created": unix(job.updated_at),
                    "type": "chat",
                    "display_name": job.model_output_name.rsplit("/", 1)[-1],
                    "organization": job.model_output_name.split("/", 1)[0],
                    "context_length": job.max_seq_length,
                }
            )
    models += uploaded_models(store, clock.now(), tenant)
    return models
