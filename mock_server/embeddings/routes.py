"""``POST /embeddings``: unit vectors of the model's dimension (``models.py``), equal for equal
inputs, for one string or a list of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mock_server.catalogue.serverless import embedding_model, unavailable
from mock_server.deps import TenantDep
from mock_server.embeddings.models import embed_all
from mock_server.spec.routing import SpecRequestDep, SpecRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Embeddings"], route_class=SpecRoute)


@router.post("/embeddings", response_model=None)
async def create_embedding(tenant: TenantDep, valid: SpecRequestDep) -> dict[str, Any]:
    body = valid.body
    model = embedding_model(body["model"])
    if model is None:
        raise unavailable(body["model"])
    given = body["input"]
    inputs = [given] if isinstance(given, str) else list(given)
    vectors, tokens = embed_all(model, inputs)
    return {
        "object": "list",
        "model": model.name,
        "data": [
            {"object": "embedding", "index": i, "embedding": vector}
            for i, vector in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
    }
