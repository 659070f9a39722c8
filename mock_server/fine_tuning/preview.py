"""How a training example becomes tokens and labels: the rows of ``POST /fine-tunes/preview`` and
of a job's tokenized dataset (``GET /fine-tunes/{id}/download-tokenized-dataset``).

There is no real tokenizer for the catalogue models, so the text is split by the stand-in
tokenizer every other count uses (``core/tokens.py``): the tokens of a row's contents are exactly
the ones its file's ``token_count`` counted (``files/checks``), each carrying the white space in
front of it so that the pieces read back as the text. Around them a Llama-3-style chat template
adds its special tokens: ``<|begin_of_text|>``, a header (``<|start_header_id|>``, the role,
``<|end_header_id|>``, a blank line) and ``<|eot_id|>`` per message, ``<|end_of_text|>`` after a
text or a completion; an image part is one ``<|image|>`` token. Token ids are stable hashes of the
pieces below the special tokens' ids.

Which tokens are trained follows Together's ``train_on_inputs``: an assistant message's content
and its ``<|eot_id|>`` (unless its ``weight`` is 0), a completion and its end, and all of a plain
text; with ``train_on_inputs`` every token but the first. The others get the label -100. A row is
cut to the model's ``max_seq_length`` (``truncated``).

Lines are read as the file check let them through, which under SDK 3.1.1's rules may be loose (a
``human`` role, no assistant turn, a content that is no string): such a line is tokenized as it
is, never refused here; a line of no format at all is the caller's to refuse or skip.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from mock_server.files.checks.rules import REQUIRED_COLUMNS, DatasetFormat

__all__ = [
    "IGNORED",
    "PreviewRow",
    "Token",
    "examples",
    "format_of",
    "preference_rows",
    "row",
    "tokens_of",
]

IGNORED: Final = -100  # the label of a token that is not trained on
VOCAB_SIZE: Final = 128_000  # ordinary pieces' ids are below it, special tokens' above
SPECIAL: Final = {
    "<|begin_of_text|>": 128_000,
    "<|end_of_text|>": 128_001,
    "<|start_header_id|>": 128_006,
    "<|end_header_id|>": 128_007,
    "<|eot_id|>": 128_009,
    "<|image|>": 128_256,
}
_PIECE = re.compile(r"\s*(?:[^\W_]{1,4}|[^\w\s]|_)", re.UNICODE)  # core/tokens.py's, with its space


@dataclass(frozen=True)
class Token:
    text: str
    trained: bool
    content: bool = True  # one of the example's own tokens, not the template's

    @property
    def id(self) -> int:
        special = SPECIAL.get(self.text)
        if special is not None:
            return special
        digest = hashlib.blake2b(self.text.encode(), digest_size=8).digest()
        return int.from_bytes(digest) % VOCAB_SIZE


@dataclass(frozen=True)
class PreviewRow:
    """One ``FineTunePreviewRow``, and how many of its tokens are the contents' own."""

    tokens: tuple[Token, ...]
    truncated: bool
    content_tokens: int

    def to_json(self) -> dict[str, Any]:
        labels = [t.id if t.trained else IGNORED for t in self.tokens]
        return {
            "input_ids": [t.id for t in self.tokens],
            "tokens": [t.text for t in self.tokens],
            "labels": labels,
            "trained_spans": _spans(labels),
            "num_tokens": len(self.tokens),
            "num_trained_tokens": sum(1 for label in labels if label != IGNORED),
            "truncated": self.truncated,
        }


def _spans(labels: list[int]) -> list[list[int]]:
    spans: list[list[int]] = []
    for i, label in enumerate(labels):
        if label == IGNORED:
            continue
        if spans and spans[-1][1] == i:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    return spans


def _pieces(text: str, trained: bool) -> list[Token]:
    return [Token(piece, trained) for piece in _PIECE.findall(text)]


def _template(text: str, trained: bool) -> Token:
    return Token(text, trained, content=False)


def _content(content: Any, trained: bool) -> list[Token]:
    if isinstance(content, str):
        return _pieces(content, trained)
    if not isinstance(content, list):  # what newer rules let through: read as its JSON text
        return _pieces(json.dumps(content), trained)
    tokens: list[Token] = []
    for part in content:  # text and image parts
        if not isinstance(part, dict):
            tokens += _pieces(json.dumps(part), trained)
        elif part.get("type") == "text" and isinstance(part.get("text"), str):
            tokens += _pieces(part["text"], trained)
        else:
            tokens.append(_template("<|image|>", False))
    return tokens


def _conversation(messages: Any, train_on_inputs: bool) -> list[Token]:
    tokens = [_template("<|begin_of_text|>", False)]
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", ""))
        answer = role == "assistant" and message.get("weight", 1) != 0
        tokens += [
            _template(text, train_on_inputs)
            for text in ("<|start_header_id|>", role, "<|end_header_id|>", "\n\n")
        ]
        tokens += _content(message.get("content", ""), answer or train_on_inputs)
        tokens.append(_template("<|eot_id|>", answer or train_on_inputs))
    return tokens


def tokens_of(example: dict[str, Any], fmt: DatasetFormat, train_on_inputs: bool) -> list[Token]:
    """An SFT example's tokens, each marked trained or not."""
    if fmt is DatasetFormat.CONVERSATION:
        return _conversation(example["messages"], train_on_inputs)
    start = [_template("<|begin_of_text|>", False)]
    end = [_template("<|end_of_text|>", True)]
    if fmt is DatasetFormat.INSTRUCTION:
        prompt = _content(example["prompt"], train_on_inputs)
        return [*start, *prompt, *_content(example["completion"], True), *end]
    return [*start, *_content(example["text"], True), *end]


def row(tokens: list[Token], max_seq_length: int) -> PreviewRow:
    content = sum(1 for t in tokens if t.content)
    kept = tokens[:max_seq_length]
    return PreviewRow(tuple(kept), len(tokens) > max_seq_length, content)


def format_of(example: Any) -> DatasetFormat | None:
    """The format whose columns a line has (the first, in the check's order), or None."""
    if not isinstance(example, dict):
        return None
    return next(
        (fmt for fmt, columns in REQUIRED_COLUMNS.items() if all(c in example for c in columns)),
        None,
    )


def examples(
    lines: Iterable[str], limit: int | None = None
) -> Iterator[tuple[int, Any, DatasetFormat | None]]:
    """The examples of a validated JSONL training file, at most ``limit``: each with its line
    number and format (None for a line of no format, which newer clients' rules let through).
    Blank lines are skipped, as the newest rules skip them."""
    n = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if limit is not None and n >= limit:
            return
        n += 1
        example = json.loads(line)
        yield number, example, format_of(example)


def preference_rows(example: dict[str, Any], max_seq_length: int) -> dict[str, Any]:
    """A DPO example as the chosen and rejected conversations, each trained on its answer."""
    given = example["input"].get("messages") if isinstance(example["input"], dict) else None
    prompt = list(given) if isinstance(given, list) else []
    rows = {}
    for side, key in (("chosen", "preferred_output"), ("rejected", "non_preferred_output")):
        answer = example[key] if isinstance(example[key], list) else []
        tokens = _conversation([*prompt, *answer], train_on_inputs=False)
        body = row(tokens, max_seq_length).to_json()
        rows[f"{side}_input_ids"] = body["input_ids"]
        rows[f"{side}_labels"] = body["labels"]
    return rows
