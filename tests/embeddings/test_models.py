"""The embedding stand-ins: unit vectors of the model's dimension, equal for equal inputs,
different for different ones, closer for texts that share words; and rerank built on them."""

from __future__ import annotations

import math

import pytest

from mock_server.catalogue.serverless import EmbeddingModel, embedding_model, rerank_model
from mock_server.core.errors import InvalidRequest
from mock_server.core.tokens import count_tokens
from mock_server.embeddings.models import document_text, embed, embed_all, rank


def _embedding(name: str) -> EmbeddingModel:
    model = embedding_model(name)
    assert model is not None
    return model


BGE = _embedding("BAAI/bge-large-en-v1.5")
M2 = _embedding("togethercomputer/m2-bert-80M-8k-retrieval")
_RANKER = rerank_model("Salesforce/Llama-Rank-v1")  # the spec's enum spelling; its example: -V1
assert _RANKER is not None
RANKER = _RANKER


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("model", [BGE, M2])
def test_a_vector_has_the_models_dimension_and_unit_length(model: EmbeddingModel) -> None:
    (vector,), _ = embed_all(model, ["New York City"])
    assert len(vector) == model.dimension
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)


def test_equal_inputs_give_equal_vectors_and_different_inputs_differ() -> None:
    first, again, other = (embed(BGE.name, t, BGE.dimension) for t in ("cat", "cat", "cats"))
    assert first == again
    assert first != other


def test_the_same_text_differs_between_models() -> None:
    assert embed(BGE.name, "cat", 768) != embed(M2.name, "cat", 768)


def test_texts_that_share_words_are_closer_than_texts_that_do_not() -> None:
    query = embed(BGE.name, "where do llamas live", 1024)
    near = embed(BGE.name, "llamas live in the Andes", 1024)
    far = embed(BGE.name, "pandas eat bamboo", 1024)
    assert _cosine(query, near) > _cosine(query, far) + 0.3


def test_tokens_are_counted_per_input_and_a_too_long_input_is_refused_by_index() -> None:
    _, tokens = embed_all(BGE, ["one two", "three"])
    assert tokens == count_tokens("one two") + count_tokens("three") == 4  # "thre", "e"
    with pytest.raises(InvalidRequest) as refused:
        embed_all(BGE, ["short", "word " * 600])
    assert refused.value.param == "input.1"


def test_rerank_orders_documents_by_relevance_and_keeps_the_best_top_n() -> None:
    documents = ["pandas eat bamboo", "the llama is a camelid", "llamas and guanacos"]
    ranked, tokens = rank(RANKER, "llama", documents, top_n=2, rank_fields=None)
    assert {r.index for r in ranked} == {1, 2}  # both about llamas; the bamboo one is cut
    assert ranked[0].relevance_score >= ranked[1].relevance_score
    assert all(0.0 <= r.relevance_score <= 1.0 for r in ranked)
    # a cross-encoder reads the query beside every document
    assert tokens == 3 * count_tokens("llama") + sum(count_tokens(d) for d in documents)


def test_object_documents_are_ranked_by_their_rank_fields() -> None:
    document = {"title": "Llama", "text": "A camelid", "year": 1}
    assert document_text(document, ["title"]) == "title: Llama"
    assert document_text(document, None) == "title: Llama\ntext: A camelid\nyear: 1"
    with pytest.raises(InvalidRequest) as refused:
        rank(RANKER, "q", [document, {"other": "x"}], top_n=None, rank_fields=["title"])
    assert refused.value.param == "documents.1"


def test_a_top_n_below_one_is_refused() -> None:
    with pytest.raises(InvalidRequest) as refused:
        rank(RANKER, "q", ["a"], top_n=0, rank_fields=None)
    assert refused.value.param == "top_n"
