"""A JSONL dataset, line by line: each line parsed, its format detected, then the format's rules.

:func:`scan_jsonl` reads a file's lines in chunks (``reader.iter_chunks``) and hands them to the
fast path (``shapes.FastLines``), which vouches for the usual lines in bulk; a line it cannot
vouch for, and the first line, which decides the format, go to :class:`JsonlLineChecker`. That
one applies the rules every line shares (J1…J6 of ``lora-and-semantics.md`` §6.7: valid JSON,
an object, exactly one format's columns, the same format as the first line) and leaves the rules
of each format (M…, T1, P…) to ``rules.py``. Kept apart from those because this is the only part
that keeps state across lines, and the only part that knows which rules apply to which format.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_server.core.tokens import count_tokens
from mock_server.files.checks.reader import Chunk, LineTooLong, iter_chunks
from mock_server.files.checks.rules import (
    REQUIRED_COLUMNS,
    DatasetFormat,
    RuleViolation,
    check_content,
    check_messages,
    check_preference,
)

if TYPE_CHECKING:
    from mock_server.files.checks.shapes import FastLines, Vouched

__all__ = ["JsonlLineChecker", "JsonlTally", "LineSummary", "scan_jsonl"]

DOCS_URL = "https://docs.together.ai/docs/fine-tuning-data-preparation"


@dataclass
class JsonlTally:
    """What :func:`scan_jsonl` found: the samples before it stopped, and why it stopped.

    ``undecodable`` means a line is not UTF-8: the file's encoding error, which the caller finds
    with ``reader.utf8_error``, outranks everything else (F6).
    """

    num_samples: int = 0
    token_count: int = 0
    has_weights: bool = False
    dataset_format: DatasetFormat | None = None
    violation: RuleViolation | None = None
    undecodable: bool = False


def scan_jsonl(
    fh: io.BufferedIOBase, *, check_format: bool, max_line_bytes: int, lenient: bool = False
) -> JsonlTally:
    """Check every line of ``fh`` until the first that breaks a rule. Holds about a megabyte
    of lines at a time, never a line over ``max_line_bytes`` (that one breaks the simulator's
    own rule, ``line_length``). ``check_format`` and ``lenient``: as for
    :class:`JsonlLineChecker`."""
    checker = JsonlLineChecker(check_format=check_format, lenient=lenient)
    tally = JsonlTally()
    fast: FastLines | None = None  # once the first line tells the format (not for eval files)
    try:
        for chunk in iter_chunks(fh, max_line_bytes):
            fast = _scan_chunk(chunk, checker, fast, tally)
    except RuleViolation as violation:
        tally.violation = violation
    except UnicodeDecodeError:
        tally.undecodable = True
    except LineTooLong as exc:
        tally.violation = RuleViolation(exc.message, exc.line_number, "line_length")
    tally.dataset_format = checker.file_format
    return tally


def _scan_chunk(
    chunk: Chunk, checker: JsonlLineChecker, fast: FastLines | None, tally: JsonlTally
) -> FastLines | None:
    """Checks a chunk's lines in order: through the fast path where it vouches for them, else
    one by one; returns the fast path (made here after the file's first line). Holds nothing of
    the chunk when it returns: the chunk is a view of the reader's buffer, read into again."""
    from mock_server.files.checks.shapes import FastLines  # msgspec and numpy, on first use

    i = 0
    while i < chunk.count:
        if fast is None:  # the first line decides the format
            _check_exact(checker, chunk, i, tally)
            if checker.dataset_format is not None:
                fast = FastLines(checker.dataset_format)
            i += 1
            continue
        vouched = fast.vouch(chunk, i)
        for line in vouched.exact:
            try:
                _check_exact(checker, chunk, line, tally)
            except RuleViolation:
                _add_vouched(tally, vouched, line)
                raise
        _add_vouched(tally, vouched, vouched.stop)
        i = vouched.stop
        if i < chunk.count:  # fits its shape but breaks a rule: the exact checks say how
            _check_exact(checker, chunk, i, tally)
            i += 1
    if fast is not None:
        fast.forget()
    return fast


def _check_exact(checker: JsonlLineChecker, chunk: Chunk, i: int, tally: JsonlTally) -> None:
    summary = checker.check(chunk.line(i), chunk.first + i + 1)
    if not summary.sample:  # a blank line, which the 3.1.1 rules skip
        return
    tally.num_samples += 1
    tally.token_count += summary.token_count
    tally.has_weights |= summary.has_weights


def _add_vouched(tally: JsonlTally, vouched: Vouched, line: int) -> None:
    """Adds what the fast path found in the chunk's lines before ``line``."""
    tally.num_samples += vouched.samples_before(line)
    tally.token_count += vouched.tokens_before(line)
    tally.has_weights |= vouched.weights_before(line)


@dataclass(frozen=True)
class LineSummary:
    """What a valid line contributes to the file's report."""

    dataset_format: DatasetFormat | None
    token_count: int
    has_weights: bool
    sample: bool = True  # False: a blank line, skipped (the 3.1.1 rules)


_BLANK = LineSummary(None, 0, False, sample=False)


class JsonlLineChecker:
    """Checks JSONL lines one at a time; remembers the first line's format (rule J6).

    ``check_format=False`` is the SDK's behaviour for purpose ``eval``: a line need only be a JSON
    object.

    ``lenient`` applies SDK 3.1.1's rules instead of 1.5.35's: a line need only be a JSON object
    (blank lines are skipped, and the non-object message is 3.1.1's); its format and content rules
    (J3…J6, M…, T1, P…) still run, but only to measure the line (its format, tokens, weights),
    never to refuse it. A file whose lines do not all share the first line's format has none.
    """

    def __init__(self, *, check_format: bool = True, lenient: bool = False) -> None:
        self.check_format = check_format
        self.lenient = lenient
        self.dataset_format: DatasetFormat | None = None
        self._seen = False  # a line has set dataset_format (None in lenient mode: no format)
        self._mixed = False  # lenient: a line of another format than the first

    @property
    def file_format(self) -> DatasetFormat | None:
        return None if self._mixed else self.dataset_format

    def check(self, line: str | bytes | bytearray | memoryview, n: int) -> LineSummary:
        """Check one line (with or without its newline); ``n`` is its 1-based number. Raises
        RuleViolation, or UnicodeDecodeError for a line of bytes that is not UTF-8."""
        if self.lenient:
            return self._check_lenient(line, n)
        obj = _parse(line, n)
        if not isinstance(obj, dict):  # J2; "moreinformation" is verbatim from the SDK.
            raise RuleViolation(
                f"Error parsing file. Invalid format on line {n} of the input file. Datasets must "
                "follow text, conversational, or instruction format. For more"
                f"information, see {DOCS_URL}",
                n,
                "line_type",
            )
        if not self.check_format:
            return LineSummary(None, _count_loose(obj), False)

        fmt = _detect_format(obj, n)
        summary = _check_by_format(fmt, obj, n)
        if not self._seen:
            self._seen, self.dataset_format = True, fmt
        elif fmt is not self.dataset_format:  # J6, checked only after the line itself passed
            assert self.dataset_format is not None  # strict: every passing line has a format
            raise RuleViolation(
                "All samples in the dataset must have the same dataset format. Got "
                f"{self.dataset_format.sdk_repr} for the first line and {fmt.sdk_repr} "
                f"for the line {n}.",
                n,
                "format",
            )
        return summary

    def _check_lenient(self, line: str | bytes | bytearray | memoryview, n: int) -> LineSummary:
        obj = _parse(line, n, strip=True)
        if obj is _BLANK_LINE:
            return _BLANK
        if not isinstance(obj, dict):  # 3.1.1's J2, in its own words
            raise RuleViolation(
                f"Error parsing file. Invalid format on line {n} of the input file. Each line "
                f"must be a JSON object. Dataset requirements are described at {DOCS_URL}. "
                "Full validation runs on the server after upload.",
                n,
                "line_type",
            )
        if not self.check_format:
            return LineSummary(None, _count_loose(obj), False)
        try:
            fmt: DatasetFormat | None = _detect_format(obj, n)
        except RuleViolation:
            fmt = None
        summary = LineSummary(fmt, _count_loose(obj), False)
        if fmt is not None:
            try:
                summary = _check_by_format(fmt, obj, n)
            except RuleViolation:  # broken 1.5.35 rules: measured, not refused
                pass
        if not self._seen:
            self._seen, self.dataset_format = True, fmt
        elif fmt is not self.dataset_format:
            self._mixed = True
        return summary


_BLANK_LINE = object()  # what _parse(strip=True) gives for a line of nothing but whitespace


def _parse(line: str | bytes | bytearray | memoryview, n: int, *, strip: bool = False) -> Any:
    """The line's value, as ``json.loads`` gives it. Bytes go through msgspec first: what it
    accepts it decodes to the same values, without the line's text as well; for what it refuses
    (invalid UTF-8, NaN, lone surrogates, 1e400, deep nesting...) ``json.loads`` decides.
    ``strip``: as SDK 3.1.1 reads a line, ``json.loads(line.strip())``, where ``str.strip`` takes
    more than JSON's whitespace (form feeds, no-break spaces); ``_BLANK_LINE`` if nothing is
    left."""
    if not isinstance(line, str):
        import msgspec

        try:
            return msgspec.json.decode(line)
        except (ValueError, RecursionError):
            line = str(line, "utf-8")
    if strip:
        line = line.strip()
        if not line:
            return _BLANK_LINE
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        # J1. A blank line is invalid JSON too. RecursionError (absurdly deep nesting) would
        # crash the SDK; here it counts as unparsable.
        raise RuleViolation(
            f"Error parsing json payload. Unexpected format on line {n}.", n, "load_json"
        ) from exc


def _detect_format(obj: dict[str, Any], n: int) -> DatasetFormat:
    found: DatasetFormat | None = None
    for fmt, columns in REQUIRED_COLUMNS.items():
        if not all(column in obj for column in columns):
            continue
        if found is not None:
            # J5. Unreachable in practice: the extra-column check below fires for the first
            # match already, because the column sets are disjoint. Kept to mirror the SDK.
            raise RuleViolation(
                "Found multiple dataset formats in the input file. "
                f"Got {found.sdk_repr} and {fmt.sdk_repr} on line {n}.",
                n,
                "format",
            )
        found = fmt
        for column in obj:  # J4: the first key (in file order) outside the format's columns
            if column not in columns:
                raise RuleViolation(f'Found extra column "{column}" in the line {n}.', n, "format")
    if found is None:  # J3; the SDK prints the dict_keys repr.
        raise RuleViolation(
            "Error parsing file. Could not detect a format for the line "
            f"{n} with the columns:\n{obj.keys()}",
            n,
            "format",
        )
    return found


def _check_by_format(fmt: DatasetFormat, obj: dict[str, Any], n: int) -> LineSummary:
    if fmt is DatasetFormat.CONVERSATION:
        tokens, weights = check_messages(obj["messages"], n, require_assistant=True)
        return LineSummary(fmt, tokens, weights)
    if fmt is DatasetFormat.PREFERENCE:
        tokens, weights = check_preference(obj, n)
        return LineSummary(fmt, tokens, weights)
    # General and instruction (T1): each column is a content; only `completion` is the
    # assistant's, so images are allowed in `text` and `prompt` but not in `completion`.
    tokens = 0
    for column in REQUIRED_COLUMNS[fmt]:
        role = "assistant" if column == "completion" else "user"
        tokens += check_content(obj[column], role, n).tokens
    return LineSummary(fmt, tokens, False)


def _count_loose(value: object) -> int:
    """Tokens of an unchecked (eval) line: every string value, skipping image payloads.

    Iterative, so a deeply nested line cannot exhaust the stack.
    """
    tokens = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            tokens += count_tokens(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(v for k, v in item.items() if k != "image_url")
    return tokens
