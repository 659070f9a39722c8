"""One JSONL line of a fine-tuning dataset: parsed, its format detected, then the format's rules.

``check.py`` streams a file and hands each line to :class:`JsonlLineChecker`, which applies the
rules every line shares (J1…J6 of ``lora-and-semantics.md`` §6.7: valid JSON, an object, exactly
one format's columns, the same format as the first line) and leaves the rules of each format
(M…, T1, P…) to ``rules.py``. Kept apart from those because this is the only part that keeps
state across lines, and the only part that knows which rules apply to which format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mock_server.core.tokens import count_tokens
from mock_server.files.checks.rules import (
    REQUIRED_COLUMNS,
    DatasetFormat,
    RuleViolation,
    check_content,
    check_messages,
    check_preference,
)

__all__ = ["JsonlLineChecker", "LineSummary"]

DOCS_URL = "https://docs.together.ai/docs/fine-tuning-data-preparation"


@dataclass(frozen=True)
class LineSummary:
    """What a valid line contributes to the file's report."""

    dataset_format: DatasetFormat | None
    token_count: int
    has_weights: bool


class JsonlLineChecker:
    """Checks JSONL lines one at a time; remembers the first line's format (rule J6).

    ``check_format=False`` is the SDK's behaviour for purpose ``eval``: a line need only be a JSON
    object.
    """

    def __init__(self, *, check_format: bool = True) -> None:
        self.check_format = check_format
        self.dataset_format: DatasetFormat | None = None

    def check(self, line: str, n: int) -> LineSummary:
        """Check one line (with or without its newline); ``n`` is its 1-based number."""
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            # J1. A blank line is invalid JSON too. RecursionError (absurdly deep nesting) would
            # crash the SDK; here it counts as unparsable.
            raise RuleViolation(
                f"Error parsing json payload. Unexpected format on line {n}.", n, "load_json"
            ) from exc
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
        if self.dataset_format is None:
            self.dataset_format = fmt
        elif fmt is not self.dataset_format:  # J6, checked only after the line itself passed
            raise RuleViolation(
                "All samples in the dataset must have the same dataset format. Got "
                f"{self.dataset_format.sdk_repr} for the first line and {fmt.sdk_repr} "
                f"for the line {n}.",
                n,
                "format",
            )
        return summary


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
