"""Embeddings and rerank over HTTP: vectors of the model's dimension, equal for equal inputs;
documents ranked by relevance; Together's errors for unknown models and bad requests. Every body
is checked against the spec's schema for its operation and status."""

from __future__ import annotations

import math
from typing import Any

from fastapi.testclient import TestClient

from tests.spec_schemas import assert_is_error_data, assert_matches_spec
from tests.steps import auth

# The rerank operation's own example (RerankRequest.documents).
ANIMALS = [
    {"title": "Llama", "text": "The llama is a domesticated South American camelid."},
    {"title": "Panda", "text": "The giant panda is a bear species endemic to China."},
    {"title": "Guanaco", "text": "The guanaco is a camelid native to South America."},
]


def _embed(client: TestClient, model: str, given: Any) -> dict[str, Any]:
    response = client.post("/v1/embeddings", headers=auth(), json={"model": model, "input": given})
    assert response.status_code == 200, response.text
    assert_matches_spec(response.json(), "POST", "/embeddings")
    body: dict[str, Any] = response.json()
    return body


def test_embeddings_have_the_models_dimension_unit_length_and_repeat_for_equal_inputs(
    client: TestClient,
) -> None:
    large = _embed(client, "BAAI/bge-large-en-v1.5", ["New York City", "Paris", "New York City"])
    base = _embed(client, "togethercomputer/m2-bert-80M-8k-retrieval", "New York City")
    vectors = [item["embedding"] for item in large["data"]]
    assert [item["index"] for item in large["data"]] == [0, 1, 2]
    assert [len(v) for v in vectors] == [1024, 1024, 1024]
    assert len(base["data"][0]["embedding"]) == 768
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert large["usage"]["prompt_tokens"] == 8  # New·York·City ×2, Pari·s


def test_an_unknown_embedding_model_is_404_and_a_missing_input_400(client: TestClient) -> None:
    unknown = client.post(
        "/v1/embeddings", headers=auth(), json={"model": "meta-llama/Llama-3-8b", "input": "x"}
    )
    missing = client.post("/v1/embeddings", headers=auth(), json={"model": "BAAI/bge-base-en-v1.5"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "model_not_available")
    assert (missing.status_code, missing.json()["error"]["param"]) == (400, "input")
    for response in (unknown, missing):
        assert_is_error_data(response.json())


def test_rerank_puts_the_camelids_first_and_returns_documents_when_asked(
    client: TestClient,
) -> None:
    body = {
        "model": "Salesforce/Llama-Rank-V1",
        "query": "Which camelid lives in South America?",
        "documents": ANIMALS,
        "top_n": 2,
        "return_documents": True,
    }
    response = client.post("/v1/rerank", headers=auth(), json=body)
    assert response.status_code == 200, response.text
    assert_matches_spec(response.json(), "POST", "/rerank")
    results = response.json()["results"]
    assert {r["index"] for r in results} == {0, 2}
    assert results[0]["relevance_score"] >= results[1]["relevance_score"]
    assert results[0]["document"]["text"].startswith('{"title":')
    plain = client.post("/v1/rerank", headers=auth(), json={**body, "return_documents": False})
    assert [r["document"] for r in plain.json()["results"]] == [{"text": None}] * 2
    assert [r["index"] for r in plain.json()["results"]] == [r["index"] for r in results]


def test_rerank_refuses_unknown_fields_and_models(client: TestClient) -> None:
    base = {"model": "Salesforce/Llama-Rank-V1", "query": "q", "documents": ["a"]}
    extra = client.post("/v1/rerank", headers=auth(), json={**base, "colour": "red"})
    unknown = client.post(
        "/v1/rerank", headers=auth(), json={**base, "model": "BAAI/bge-large-en-v1.5"}
    )
    assert extra.status_code == 400  # RerankRequest has additionalProperties: false
    assert unknown.status_code == 404
    for response in (extra, unknown):
        assert_is_error_data(response.json())


def test_the_embedding_rerank_and_image_models_are_listed_with_their_types(
    client: TestClient,
) -> None:
    listed = client.get("/v1/models", headers=auth())
    assert_matches_spec(listed.json(), "GET", "/models")
    types = {model["id"]: model["type"] for model in listed.json()}
    assert types["BAAI/bge-large-en-v1.5"] == "embedding"
    assert types["Salesforce/Llama-Rank-V1"] == "rerank"
    assert types["black-forest-labs/FLUX.1-schnell"] == "image"
    assert types["meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"] == "chat"
