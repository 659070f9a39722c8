"""``GET /v1/models``: the catalogue's models, then the tenant's completed fine-tunes; and the
account lookup (``GET /v3/whoami``) that the 3.x CLI makes before every command."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mock_server import catalogue
from mock_server.deps import BackendDep, TenantDep
from mock_server.jobs import JobStatus
from mock_server.timefmt import unix

__all__ = ["router"]

router = APIRouter(tags=["Models"])


@router.get("/v1/models")
async def list_models(backend: BackendDep, tenant: TenantDep) -> list[dict[str, Any]]:
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
    for job in backend.jobs(tenant):
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
    return models


@router.get("/v3/whoami")
async def whoami(tenant: TenantDep, backend: BackendDep) -> dict[str, Any]:
    slug = backend.account
    return {
        "type": "project_api_key",
        "project": {"id": f"proj-{tenant}", "name": slug, "slug": slug},
        "organization": {"id": f"org-{tenant}", "name": slug, "slug": slug},
        "api_key": {"id": f"key-{tenant}", "name": "together-sim"},
    }
