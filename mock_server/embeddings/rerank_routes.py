"""``POST /rerank``: documents ordered by the cosine of their stand-in embeddings with the
query's (``embeddings.rank``), the best ``top_n``, with or without the documents."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter

from mock_server.catalogue.serverless import rerank_model, unavailable
from mock_server.core.ids import stable_int
from mock_server.deps import TenantDep
from mock_server.embeddings.models import rank
from mock_server.spec.routing import SpecRequestDep, SpecRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Rerank"], route_class=SpecRoute)


def _shown(document: str | dict[str, Any]) -> str:
    """A document as the response carries it: an object as its JSON text, as the spec's
    example shows."""
    if isinstance(document, str):
        return document
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


@router.post("/rerank", response_model=None)
async def create_rerank(tenant: TenantDep, valid: SpecRequestDep) -> dict[str, Any]:
    body = valid.body
    model = rerank_model(body["model"])
    if model is None:
        raise unavailable(body["model"])
    documents = body["documents"]
    ranked, tokens = rank(
        model,
        body["query"],
        documents,
        top_n=body.get("top_n"),
        rank_fields=body.get("rank_fields"),
    )
    returned = body.get("return_documents", False)
    key = stable_int(model.name, body["query"], json.dumps(documents, sort_keys=True))
    return {
        "object": "rerank",
        "id": str(uuid.UUID(int=key << 64 | key, version=4)),
        "model": model.name,
        "results": [
            {
                "index": r.index,
                "relevance_score": r.relevance_score,
                # the spec requires ``document``; without return_documents its text is null
                "document": {"text": _shown(documents[r.index]) if returned else None},
            }
            for r in ranked
        ],
        "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
    }
