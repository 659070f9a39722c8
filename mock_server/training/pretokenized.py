"""Together's pre-tokenized Parquet rows (``input_ids``, ``attention_mask``, ``labels``), trained.

Together trains a Parquet file as it is (lora-and-semantics §6.1, §6.3): the ids are already the
model's tokens, each row is one example and is never packed (users pad rows themselves),
``attention_mask`` 0 marks padding, and ``labels`` is ``input_ids`` with -100 where the loss skips
a token; without ``labels`` every token is a target. ``train_on_inputs`` has nothing to mask here:
the labels are the mask.

The ids need a vocabulary that covers them, which decides the base:

* **A tiny stand-in** built for Parquet data gets one embedding row per distinct id of the job's
  files, in id order: a random base has no knowledge of what an id means, so numbering the ids
  0..K-1 trains the same sequences as a 128k-row vocabulary would, at a cost that does not grow
  with the tokenizer the user had (a Llama-3-sized embedding makes a micro step ~15x slower). The
  map is saved beside the base (``token_ids.json``), and a job started from that base's checkpoint
  must use only ids it knows.
* **Any other base** (a pretrained model, or a stand-in trained on JSONL): the ids are used as
  they are and must be below the base's vocabulary size; the data was tokenized for the base.

Ids a base cannot take end the job in ``user_error`` naming the row. Pure Python; pyarrow is
imported only by :func:`read_parquet`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from mock_server.training.data import Example

__all__ = [
    "TOKEN_MAP",
    "build_examples",
    "distinct_ids",
    "is_parquet",
    "is_pretokenized",
    "load_token_map",
    "read_parquet",
    "save_token_map",
]

TOKEN_MAP: Final = "token_ids.json"
IGNORE: Final = -100
Row = Mapping[str, Any]


def is_parquet(path: str | Path) -> bool:
    """A Parquet file begins with the magic bytes ``PAR1``, whatever its declared type."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def read_parquet(path: str | Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # the server's setup, not the user's data: an error, not user_error
        raise RuntimeError(
            "reading a Parquet training file needs pyarrow: pip install 'together-sim[parquet]'"
        ) from exc
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def is_pretokenized(rows: Sequence[Row]) -> bool:
    return bool(rows) and "input_ids" in rows[0]


def _kept(row: Row, number: int) -> tuple[list[int], list[int]]:
    """The row's ids and labels without its padding (``attention_mask`` 0)."""
    ids = row.get("input_ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise ValueError(f"Parquet row {number}: input_ids must be a list of token ids")
    labels = row.get("labels")
    labels = list(ids) if labels is None else labels
    mask = row.get("attention_mask")
    mask = [1] * len(ids) if mask is None else mask
    for name, column in (("labels", labels), ("attention_mask", mask)):
        if len(column) != len(ids):
            raise ValueError(
                f"Parquet row {number}: {name} has {len(column)} values, input_ids {len(ids)}"
            )
    keep = [i for i, m in enumerate(mask) if m]
    return [ids[i] for i in keep], [labels[i] for i in keep]


def distinct_ids(rows: Sequence[Row]) -> list[int]:
    """Every id the rows use outside their padding, in id order."""
    seen: set[int] = set()
    for number, row in enumerate(rows, 1):
        seen.update(_kept(row, number)[0])
    return sorted(seen)


def save_token_map(base_dir: Path, ids: Sequence[int]) -> None:
    """``ids[k]`` is the data's id that the stand-in's token ``k`` stands for."""
    (base_dir / TOKEN_MAP).write_text(json.dumps({"data_ids": list(ids)}) + "\n")


def load_token_map(base_dir: Path) -> dict[int, int] | None:
    """Data id → the base's id, or None when the base takes the data's ids as they are."""
    path = base_dir / TOKEN_MAP
    if not path.is_file():
        return None
    ids = json.loads(path.read_text())["data_ids"]
    return {int(data_id): k for k, data_id in enumerate(ids)}


def build_examples(
    rows: Sequence[Row],
    *,
    vocab_size: int,
    token_map: Mapping[int, int] | None,
    max_length: int,
) -> list[Example]:
    """One example per row, padding dropped, truncated on the right to ``max_length``. A label
    that is not -100 must be the id it stands beside (labels are unshifted, as in Hugging Face).
    The first token is never a target (nothing predicts it), and rows left without a target are
    dropped, as for JSONL."""
    examples = []
    for number, row in enumerate(rows, 1):
        ids, labels = _kept(row, number)
        for at, (token, label) in enumerate(zip(ids, labels, strict=True)):
            if label not in (IGNORE, token):
                raise ValueError(
                    f"Parquet row {number}: label {label} at position {at} is neither -100 nor "
                    f"the token id there ({token}); labels are input_ids with -100 where the "
                    "loss skips a token"
                )
        mapped = [_mapped(token, number, vocab_size, token_map) for token in ids]
        targets = [label != IGNORE for label in labels]
        if targets:
            targets[0] = False
        example = Example(tuple(mapped[:max_length]), tuple(targets[:max_length]))
        if any(example.targets):
            examples.append(example)
    return examples


def _mapped(token: int, number: int, vocab_size: int, token_map: Mapping[int, int] | None) -> int:
    if token_map is not None:
        if token not in token_map:
            raise ValueError(
                f"Parquet row {number}: token id {token} is not in the vocabulary of the "
                f"stand-in base, which was built for the ids of the Parquet file it first "
                f"trained on ({len(token_map)} distinct ids)"
            )
        return token_map[token]
    if not 0 <= token < vocab_size:
        raise ValueError(
            f"Parquet row {number}: token id {token} is outside the vocabulary of the base "
            f"model ({vocab_size} tokens): tokenize the data with the base model's tokenizer"
        )
    return token
