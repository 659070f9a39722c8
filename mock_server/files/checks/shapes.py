"""The usual line of each dataset format, vouched for in bulk: msgspec decodes a chunk's lines at
once straight into typed shapes, in C, and only the rules a type cannot say are left to a short
Python loop.

A fine-tuning line that fits its format's shape here passes every rule of ``rules.py`` (the
shapes are those rules' common case: plain string contents, no images, known roles, weights of 0
or 1, no column or key beyond the format's), and its token count is that of the content strings.
A line that does not fit is not judged here: :meth:`FastLines.vouch` leaves it to the caller's
exact checks (``jsonl.py``), which say what is wrong or accept what these shapes leave out
(multimodal contents, weights given as ``true``, extra keys in a message, ``NaN``...). So the
shapes may be narrower than the rules, never wider; the property test in
``tests/files/checks/test_fast_path.py`` compares the two on random lines.

The contents are not decoded: msgspec hands over their raw JSON (``msgspec.Raw``), checked for
well-formed escapes but not for being strings or UTF-8, which ``bulk_tokens.TokenCounter`` checks
while it counts their tokens. Everything else in a line that fits was decoded by msgspec, which
refuses invalid UTF-8 (extra keys, whose values it would skip unread, are refused too).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from mock_server.files.checks.bulk_tokens import NotStrings, TokenCounter
from mock_server.files.checks.rules import DatasetFormat

if TYPE_CHECKING:
    from mock_server.files.checks.reader import Chunk

__all__ = ["FastLines", "Vouched"]


class _Message(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    role: Literal["system", "user", "assistant"]
    content: msgspec.Raw
    weight: Literal[0, 1] | msgspec.UnsetType = msgspec.UNSET


_Messages = Annotated[list[_Message], msgspec.Meta(min_length=1)]


class _Conversation(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    messages: _Messages


class _General(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    text: msgspec.Raw


class _Instruction(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    prompt: msgspec.Raw
    completion: msgspec.Raw


class _Input(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    messages: _Messages


class _Output(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    role: Literal["assistant"]
    content: msgspec.Raw


_OneOutput = Annotated[list[_Output], msgspec.Meta(min_length=1, max_length=1)]


class _Preference(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    input: _Input
    preferred_output: _OneOutput
    non_preferred_output: _OneOutput


# What a decode raises on a line that does not fit: msgspec's errors (ValueErrors) and
# RecursionError for absurd nesting.
_MISFIT = (ValueError, RecursionError)

Strings = list[msgspec.Raw]
Walk = Callable[[Any, Strings], bool | None]


@dataclass
class Vouched:
    """What :meth:`FastLines.vouch` found in a chunk's lines ``start`` to ``stop``: all fit but
    the ``exact`` ones (in order), which the caller checks itself. ``stop`` is the chunk's end,
    or the first line whose shape fits but which breaks a rule (the exact checks say which)."""

    start: int
    stop: int
    exact: list[int]
    tokens: int
    _counter: TokenCounter = field(repr=False)
    _strings: Strings = field(repr=False)
    _marks: list[int] = field(repr=False)  # len(_strings) after each line from start
    _first_weight: int | None = field(repr=False)

    def samples_before(self, line: int) -> int:
        """How many lines from ``start`` to ``line`` (excluded) were vouched for."""
        return line - self.start - bisect.bisect_left(self.exact, line)

    def tokens_before(self, line: int) -> int:
        """The tokens of the lines vouched for from ``start`` to ``line`` (excluded)."""
        if line >= self.stop:
            return self.tokens
        done = self._marks[line - self.start - 1] if line > self.start else 0
        return self._counter.count(self._strings[:done])

    def weights_before(self, line: int) -> bool:
        """Whether a line vouched for before ``line`` carried a loss weight."""
        return self._first_weight is not None and self._first_weight < line


class FastLines:
    """Vouches for the lines of one format's file, a chunk (``reader.Chunk``) at a time.

    One per check: its token counter keeps a scratch buffer.
    """

    def __init__(self, dataset_format: DatasetFormat) -> None:
        shapes: dict[DatasetFormat, tuple[type, Walk, Walk]] = {
            DatasetFormat.CONVERSATION: (_Conversation, self._conversation, _conversations),
            DatasetFormat.GENERAL: (_General, self._general, _generals),
            DatasetFormat.INSTRUCTION: (_Instruction, self._instruction, _instructions),
            DatasetFormat.PREFERENCE: (_Preference, self._preference, self._preferences),
        }
        shape, self._walk, self._walk_all = shapes[dataset_format]
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(shape)
        self._counter = TokenCounter()
        self._chunk: Chunk | None = None
        self._items: list[Any | None] = []

    def vouch(self, chunk: Chunk, start: int) -> Vouched:
        """Vouch for ``chunk``'s lines from ``start`` on; see :class:`Vouched`. Raises
        UnicodeDecodeError if a content is not UTF-8 (then the file is not)."""
        items = self._decoded(chunk)
        rest = items[start:] if start else items
        if None not in rest:  # the usual chunk: every line fits its shape
            strings: Strings = []
            weights = self._walk_all(rest, strings)
            if weights is not None:  # and keeps the rules: counted in one go, in any order
                try:
                    tokens = self._counter.count(strings)
                except NotStrings:
                    pass
                else:
                    first_weight = start if weights else None
                    return Vouched(
                        start, chunk.count, [], tokens, self._counter, [], [], first_weight
                    )
        return self._vouch_each(chunk, items, start)

    def _vouch_each(self, chunk: Chunk, items: list[Any | None], start: int) -> Vouched:
        """:meth:`vouch`, line by line, noting which line each string is from."""
        strings: Strings = []
        marks: list[int] = []
        exact: list[int] = []
        first_weight: int | None = None
        stop = chunk.count
        walk = self._walk
        for i in range(start, chunk.count):
            item = items[i]
            if item is None:
                exact.append(i)
            else:
                mark = len(strings)
                walked = walk(item, strings)
                if walked is None:  # a rule is broken
                    del strings[mark:]
                    stop = i
                    break
                if walked and first_weight is None:
                    first_weight = i
            marks.append(len(strings))
        try:
            tokens = self._counter.count(strings)
        except NotStrings as exc:  # a content that is a list (images) or another value
            strings, marks, exact = _without_lines(exc.indices, start, strings, marks, exact)
            tokens = self._counter.count(strings)
            if first_weight is not None and first_weight in exact:
                first_weight = _first_weight(items, start, stop, exact, walk)
        return Vouched(start, stop, exact, tokens, self._counter, strings, marks, first_weight)

    def forget(self) -> None:
        """Lets go of the last chunk's decoded lines (and the chunk they point into)."""
        self._chunk, self._items = None, []

    def _decoded(self, chunk: Chunk) -> list[Any | None]:
        """Each of the chunk's lines in its shape, or None for a line that does not fit. One
        decode of the whole chunk when its lines are plain (one ``{...}`` each), else a decode of
        each line."""
        if chunk is self._chunk:
            return self._items
        items: list[Any | None] | None = None
        if chunk.plain_objects():
            try:
                items = self._decoder.decode_lines(chunk.data)
            except _MISFIT:
                items = None
            if items is not None and len(items) != chunk.count:  # pragma: no cover - plain lines
                items = None
        if items is None:
            items = [self._decode(line) for line in chunk.lines()]
        self._chunk, self._items = chunk, items
        return items

    def _decode(self, line: bytes | bytearray | memoryview) -> Any | None:
        try:
            return self._decoder.decode(line)
        except _MISFIT:
            return None

    # The walks: the rules no type says, for one decoded line (and, below, for a list of them:
    # the usual case, in one call). Each adds the contents to ``strings`` and returns whether a
    # weight is set, or None if a rule is broken (and then what it added does not matter).

    def _conversation(self, line: _Conversation, strings: Strings) -> bool | None:
        walked = _walk_messages(line.messages, strings)
        if walked is None or not walked[1]:  # M24: an assistant turn
            return None
        return walked[2]

    def _preference(self, line: _Preference, strings: Strings) -> bool | None:
        walked = _walk_messages(line.input.messages, strings)  # P3, without the assistant rule
        if walked is None or walked[0] == "assistant":  # P4: not the input's last turn
            return None
        strings.append(line.preferred_output[0].content)
        strings.append(line.non_preferred_output[0].content)
        return walked[2]

    @staticmethod
    def _general(line: _General, strings: Strings) -> bool:
        strings.append(line.text)
        return False

    @staticmethod
    def _instruction(line: _Instruction, strings: Strings) -> bool:
        strings.append(line.prompt)
        strings.append(line.completion)
        return False

    def _preferences(self, lines: list[_Preference], strings: Strings) -> bool | None:
        weights = False
        for line in lines:
            walked = self._preference(line, strings)
            if walked is None:
                return None
            weights |= walked
        return weights


def _conversations(lines: list[_Conversation], strings: Strings) -> bool | None:
    """:meth:`FastLines._conversation` for many lines, inlined: it runs for every message."""
    append = strings.append
    unset = msgspec.UNSET
    weights = False
    for line in lines:
        previous = ""
        for message in line.messages:
            role = message.role
            if role == previous:  # M9
                return None
            previous = role
            if message.weight is not unset:
                weights = True
            append(message.content)
        # M24: an assistant turn, most often the last one
        if previous != "assistant" and all(m.role != "assistant" for m in line.messages):
            return None
    return weights


def _generals(lines: list[_General], strings: Strings) -> bool:
    strings += [line.text for line in lines]
    return False


def _instructions(lines: list[_Instruction], strings: Strings) -> bool:
    strings += [line.prompt for line in lines]
    strings += [line.completion for line in lines]
    return False


def _walk_messages(messages: list[_Message], strings: Strings) -> tuple[str, bool, bool] | None:
    """The one conversation rule no type says, no role twice in a row (M9): None if it is broken,
    else (the last role, whether the assistant spoke, whether any weight is set)."""
    append = strings.append
    previous = ""
    assistant = weights = False
    for message in messages:
        role = message.role
        if role == previous:
            return None
        previous = role
        if role == "assistant":
            assistant = True
        if message.weight is not msgspec.UNSET:
            weights = True
        append(message.content)
    return previous, assistant, weights


def _without_lines(
    indices: list[int], start: int, strings: Strings, marks: list[int], exact: list[int]
) -> tuple[Strings, list[int], list[int]]:
    """The strings and marks without the lines that hold the values at ``indices``, and those
    lines added to ``exact``."""
    dropped = {start + bisect.bisect_right(marks, index) for index in indices}
    kept: Strings = []
    kept_marks: list[int] = []
    begin = 0
    for offset, end in enumerate(marks):
        if start + offset not in dropped:
            kept.extend(strings[begin:end])
        kept_marks.append(len(kept))
        begin = end
    return kept, kept_marks, sorted([*exact, *dropped])


def _first_weight(
    items: list[Any | None],
    start: int,
    stop: int,
    exact: list[int],
    walk: Callable[[Any, Strings], bool | None],
) -> int | None:
    """The first line vouched for that carries a weight, walked again (rare: only after a line
    with a weight turned out to hold an image)."""
    skip = set(exact)
    for i in range(start, stop):
        if i not in skip and walk(items[i], []):
            return i
    return None
