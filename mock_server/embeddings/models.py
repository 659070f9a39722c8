"""Embeddings and rerank scores: deterministic stand-ins for what the models compute.

A text's vector is the sum of one pseudo-random direction per word (lower-cased, plurals made
singular), seeded by the model and the word, plus a smaller direction seeded by the whole text,
scaled to unit length as the models' normalized outputs are. So equal inputs give equal vectors,
different inputs give different ones, and texts that share words point the same way: reranking
by cosine puts the llama document first for a question about llamas, as a real model would, and a
test can rely on it. Token counts come from ``tokens.py``, as everywhere else in the simulator.

numpy is imported on first use: it is a tenth of the server's startup, and most servers never
embed anything.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_server.catalogue.serverless import EmbeddingModel, RerankModel
from mock_server.core.errors import InvalidRequest
from mock_server.core.ids import stable_int
from mock_server.core.tokens import count_tokens

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["Ranked", "document_text", "embed", "embed_all", "rank"]

_WORD = re.compile(r"\w+", re.UNICODE)
_WHOLE_TEXT_WEIGHT = 0.35  # enough to tell apart texts with the same words, small beside them


@functools.lru_cache(maxsize=65_536)
def _direction(model: str, key: str, dimension: int) -> NDArray[np.float64]:
    import numpy as np

    rng = np.random.default_rng(stable_int(model, key))
    vector = rng.standard_normal(dimension)
    vector /= np.linalg.norm(vector)
    vector.flags.writeable = False  # shared by the cache
    return vector


def _stem(word: str) -> str:
    """A plural's singular, crudely ("llamas": "llama", not "glass": "glas"), so that a question
    about llamas finds a text about a llama."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _vector(model: str, text: str, dimension: int) -> NDArray[np.float64]:
    import numpy as np

    total = np.zeros(dimension)
    for word in _WORD.findall(text.lower()):
        total += _direction(model, "word:" + _stem(word), dimension)
    total += _WHOLE_TEXT_WEIGHT * _direction(model, "text:" + text, dimension)
    norm = float(np.linalg.norm(total))
    return total / norm if norm > 0 else _direction(model, "text:" + text, dimension)


def embed(model: str, text: str, dimension: int) -> list[float]:
    """The unit vector of ``text`` under ``model``."""
    return [float(x) for x in _vector(model, text, dimension)]


def embed_all(model: EmbeddingModel, inputs: Sequence[str]) -> tuple[list[list[float]], int]:
    """The vectors of ``inputs`` and the tokens they count; an input longer than the model's
    window is a 400 naming it, as the service refuses one."""
    tokens = 0
    for index, text in enumerate(inputs):
        count = count_tokens(text)
        if count > model.context_length:
            raise InvalidRequest(
                f"Input {index} has {count} tokens, more than the {model.context_length} "
                f"that {model.name} takes",
                param="input" if len(inputs) == 1 else f"input.{index}",
            )
        tokens += count
    return [embed(model.name, text, model.dimension) for text in inputs], tokens


def document_text(document: str | Mapping[str, Any], rank_fields: Sequence[str] | None) -> str:
    """What a document is ranked by: a string as it is; an object by its ``rank_fields`` (all of
    its fields when none are named), one ``key: value`` a line."""
    if isinstance(document, str):
        return document
    keys = list(rank_fields) if rank_fields else list(document)
    return "\n".join(f"{key}: {_field_text(document[key])}" for key in keys if key in document)


def _field_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Ranked:
    index: int  # the document's position in the request
    relevance_score: float  # in [0, 1]: the cosine of query and document, negatives as 0


def rank(
    model: RerankModel,
    query: str,
    documents: Sequence[str | Mapping[str, Any]],
    *,
    top_n: int | None,
    rank_fields: Sequence[str] | None,
) -> tuple[list[Ranked], int]:
    """The documents by relevance to ``query`` (ties in request order), the best ``top_n``, and
    the tokens the model read: the query once per document, as a cross-encoder reads it."""
    if top_n is not None and top_n < 1:
        raise InvalidRequest(f"top_n must be at least 1 (got {top_n})", param="top_n")
    if rank_fields is not None:
        for index, document in enumerate(documents):
            if isinstance(document, Mapping) and not any(k in document for k in rank_fields):
                raise InvalidRequest(
                    f"Document {index} has none of the rank_fields {list(rank_fields)}",
                    param=f"documents.{index}",
                )
    dimension = 768  # the stand-in space rerank scores are taken in; any size would do
    asked = _vector(model.name, query, dimension)
    query_tokens = count_tokens(query)
    scored: list[Ranked] = []
    tokens = 0
    for index, document in enumerate(documents):
        text = document_text(document, rank_fields)
        pair = query_tokens + count_tokens(text)
        if pair > model.context_length:
            raise InvalidRequest(
                f"The query and document {index} have {pair} tokens, more than the "
                f"{model.context_length} that {model.name} takes",
                param=f"documents.{index}",
            )
        tokens += pair
        cosine = float(asked @ _vector(model.name, text, dimension))
        scored.append(Ranked(index, max(0.0, min(1.0, cosine))))
    scored.sort(key=lambda r: (-r.relevance_score, r.index))
    return scored[:top_n] if top_n is not None else scored, tokens
