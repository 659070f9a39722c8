"""From Together-format JSONL rows to token ids and loss masks, packed rows and batch order.

Everything here is pure Python (no torch), so the rules can be read and tested on their own. The
tokenizer is passed in; all this module needs from it is a fast tokenizer's character offsets.

How a row becomes text, in the base's chat format (``chat_format.py``: ChatML, with the template
:data:`CHATML_TEMPLATE` in ``models.py`` given to the tokenizer so that chat at inference time sees
exactly the text that training saw, or the model's own chat template, masked by rendering
prefixes). In ChatML:

* ``messages``: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message. A message that is a
  loss target contributes ``{content}<|im_end|>``, the span the template's ``{% generation %}``
  markers cover; the role header and the newline are template and never targets.
* ``prompt``/``completion``: the two texts back to back, then ``<|im_end|>`` as end of sequence.
  Instruction data is not wrapped in a chat template.
* ``text``: the text, then ``<|im_end|>``. Every token is a target: there is no input to mask.
* ``input``/``preferred_output``/``non_preferred_output`` (DPO): the prompt is the ChatML of
  ``input.messages`` followed by ``<|im_start|>assistant\\n``; each completion is
  ``{content}<|im_end|>``.

Which messages are targets follows Together's ``train_on_inputs`` (lora-and-semantics §6.2):

* ``"auto"`` is ``True`` for ``text`` data and for conversations when any message of the dataset
  carries a ``weight``, else ``False``. The docs say "all messages without weights *in the
  dataset*", so the test is per dataset, not per conversation.
* ``False``: assistant messages (or the completion) only. ``True``: every message (and the prompt
  of instruction rows).
* ``weight: 0`` always masks its message; ``weight: 1`` keeps it only where the rule above does
  (explicit ``False`` means "train only on assistant messages", as the docs advise for weights).

The first token of each example is never a target: nothing precedes it, so in a packed row it would
otherwise be predicted from the previous example's tail. Packed and unpacked runs therefore see the
same targets.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mock_server.files.checks.rules import REQUIRED_COLUMNS, DatasetFormat
from mock_server.training.chat_format import (
    CHATML,
    EOS,
    IM_START,
    PAD,
    ChatFormat,
    Segment,
    format_for,
)

__all__ = [
    "EOS",
    "IM_START",
    "PAD",
    "Example",
    "PreferenceExample",
    "Segment",
    "TextTokenizer",
    "TrainOnInputs",
    "TrainRow",
    "batch_indices",
    "build_examples",
    "build_preference_examples",
    "detect_format",
    "epoch_order",
    "pack",
    "render",
    "render_prompt",
    "resolve_train_on_inputs",
    "text_corpus",
    "tokenize",
    "unpacked",
]

Row = Mapping[str, Any]
TrainOnInputs = bool | Literal["auto"]


class TextTokenizer(Protocol):
    """What this module needs from a tokenizer: a fast (Rust) Hugging Face tokenizer fits."""

    def __call__(
        self, text: str, *, add_special_tokens: bool, return_offsets_mapping: bool
    ) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Example:
    """One tokenised sample; ``targets[i]`` says whether token ``i`` is in the loss."""

    input_ids: tuple[int, ...]
    targets: tuple[bool, ...]

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.targets):
            raise ValueError("input_ids and targets differ in length")


@dataclass(frozen=True)
class PreferenceExample:
    prompt_ids: tuple[int, ...]
    chosen_ids: tuple[int, ...]
    rejected_ids: tuple[int, ...]


@dataclass(frozen=True)
class TrainRow:
    """One row of a batch: one example, or several packed back to back.

    ``position_ids`` restart at 0 for each example. The trainer passes them to the model without an
    attention mask, and transformers then builds a block-diagonal causal mask, so packed examples
    never attend to each other.
    """

    input_ids: tuple[int, ...]
    targets: tuple[bool, ...]
    position_ids: tuple[int, ...]


# -- rows to text ---------------------------------------------------------------------------------


def detect_format(row: Row) -> DatasetFormat:
    """The first format whose columns are all present, in the SDK's detection order."""
    for fmt, columns in REQUIRED_COLUMNS.items():
        if all(c in row for c in columns):
            return fmt
    raise ValueError(f"no dataset format matches the columns {sorted(row)}")


def _text(content: object) -> str:
    """A message content as text. Image parts are dropped: the tiny models have no vision tower."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    raise ValueError(f"content must be a string or a list of parts, got {type(content).__name__}")


def resolve_train_on_inputs(setting: TrainOnInputs, rows: Iterable[Row]) -> bool:
    if setting != "auto":
        return bool(setting)
    for row in rows:
        fmt = detect_format(row)
        if fmt is DatasetFormat.GENERAL:
            return True
        if fmt is DatasetFormat.CONVERSATION and any("weight" in m for m in row["messages"]):
            return True
    return False


def _messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [{"role": str(m["role"]), "content": _text(m["content"])} for m in messages]


def render(row: Row, *, train_on_inputs: bool, chat: ChatFormat = CHATML) -> list[Segment]:
    """The text of an SFT row as segments, each a loss target or not."""
    fmt = detect_format(row)
    if fmt is DatasetFormat.GENERAL:
        return [Segment(_text(row["text"]) + chat.eos, True)]
    if fmt is DatasetFormat.INSTRUCTION:
        return [
            Segment(_text(row["prompt"]), train_on_inputs),
            Segment(_text(row["completion"]) + chat.eos, True),
        ]
    if fmt is DatasetFormat.CONVERSATION:
        targets = [
            (train_on_inputs or m["role"] == "assistant") and m.get("weight", 1) != 0
            for m in row["messages"]
        ]
        return chat.conversation(_messages(row["messages"]), targets)
    raise ValueError("preference rows are for DPO; use build_preference_examples")


def render_prompt(messages: Sequence[Mapping[str, Any]], chat: ChatFormat = CHATML) -> str:
    """The prompt for the next assistant turn (``add_generation_prompt=True``)."""
    return chat.prompt(_messages(messages))


def text_corpus(rows: Iterable[Row]) -> Iterator[str]:
    """The texts a tokenizer for these rows should be trained on."""
    for row in rows:
        if detect_format(row) is DatasetFormat.PREFERENCE:
            yield render_prompt(row["input"]["messages"])
            for key in ("preferred_output", "non_preferred_output"):
                yield _text(row[key][0]["content"]) + EOS
        else:
            yield "".join(s.text for s in render(row, train_on_inputs=True))


# -- text to tokens -------------------------------------------------------------------------------


def tokenize(segments: Sequence[Segment], tokenizer: TextTokenizer, max_length: int) -> Example:
    """Tokenise the joined text once and mark a token as a target when it starts in a target
    segment. Tokenising once (not per segment) gives exactly the ids that inference sees."""
    text, spans, at = "", [], 0
    for s in segments:
        text += s.text
        if s.target:
            spans.append((at, at + len(s.text)))
        at += len(s.text)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = [int(i) for i in enc["input_ids"]]
    targets = [any(a <= start < b for a, b in spans) for start, _ in enc["offset_mapping"]]
    if targets:
        targets[0] = False
    return Example(tuple(ids[:max_length]), tuple(targets[:max_length]))


def build_examples(
    rows: Sequence[Row],
    tokenizer: TextTokenizer,
    *,
    train_on_inputs: TrainOnInputs = "auto",
    max_length: int,
    chat: ChatFormat | None = None,
) -> list[Example]:
    """SFT examples, truncated on the right to ``max_length``. Examples left without a target
    token (everything masked, or truncated away) are dropped: they would add nothing to the loss.
    The chat format is the tokenizer's (``chat_format.format_for``) unless given."""
    effective = resolve_train_on_inputs(train_on_inputs, rows)
    chat = chat or format_for(tokenizer)
    examples = [
        tokenize(render(r, train_on_inputs=effective, chat=chat), tokenizer, max_length)
        for r in rows
    ]
    return [e for e in examples if any(e.targets)]


def _ids(tokenizer: TextTokenizer, text: str) -> tuple[int, ...]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=False)
    return tuple(int(i) for i in enc["input_ids"])


def build_preference_examples(
    rows: Sequence[Row],
    tokenizer: TextTokenizer,
    *,
    max_length: int,
    chat: ChatFormat | None = None,
) -> list[PreferenceExample]:
    """DPO pairs. When prompt plus completion is too long, the completion keeps at most half of
    ``max_length`` and the prompt loses tokens from its start, so the end of the prompt (the
    question and the assistant header) survives."""
    chat = chat or format_for(tokenizer)
    out = []
    for row in rows:
        messages = _messages(row["input"]["messages"])
        prompt = _ids(tokenizer, chat.prompt(messages))
        chosen, rejected = (
            _ids(tokenizer, chat.reply(messages, _text(row[key][0]["content"])))
            for key in ("preferred_output", "non_preferred_output")
        )
        if len(prompt) + max(len(chosen), len(rejected)) > max_length:
            chosen, rejected = chosen[: max_length // 2], rejected[: max_length // 2]
            keep = max_length - max(len(chosen), len(rejected))
            prompt = prompt[len(prompt) - keep :]
        out.append(PreferenceExample(prompt, chosen, rejected))
    return out


# -- examples to rows, rows to batches ------------------------------------------------------------


def unpacked(examples: Iterable[Example]) -> list[TrainRow]:
    return [TrainRow(e.input_ids, e.targets, tuple(range(len(e.input_ids)))) for e in examples]


def pack(examples: Iterable[Example], max_length: int) -> list[TrainRow]:
    """Greedy sample packing in the given order: an example joins the current row while it fits in
    ``max_length`` tokens, otherwise it opens a new row. Examples are never split."""
    rows: list[TrainRow] = []
    ids: list[int] = []
    targets: list[bool] = []
    positions: list[int] = []
    for e in examples:
        if ids and len(ids) + len(e.input_ids) > max_length:
            rows.append(TrainRow(tuple(ids), tuple(targets), tuple(positions)))
            ids, targets, positions = [], [], []
        ids += e.input_ids
        targets += e.targets
        positions += range(len(e.input_ids))
    if ids:
        rows.append(TrainRow(tuple(ids), tuple(targets), tuple(positions)))
    return rows


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """A permutation of ``range(n)`` that depends only on the seed and the epoch, so that the batch
    of any step can be recomputed after a restart without saved sampler state."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """Row indices of optimizer step ``step`` (from 0). An epoch is ``ceil(n / batch_size)`` steps;
    its last batch may be short. Steps past the last epoch wrap into further epochs."""
    steps_per_epoch = -(-n // batch_size)
    epoch, i = divmod(step, steps_per_epoch)
    return epoch_order(n, seed, epoch)[i * batch_size : (i + 1) * batch_size]
