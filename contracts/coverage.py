"""Which status codes a contract run saw from each operation, against what the spec documents.

A recorder counts every response (schemathesis's ``after_call`` hook feeds it, in the CLI's run
and in the pytest suite alike); the report is a table of operations × status codes, written as
Markdown and JSON and printed. A cell holds how many responses had that status, ``-`` a status
the spec documents that never came, and an empty cell a status neither documented nor seen. The
summary counts the documented (operation, status) pairs the run reached, which says how much of
the spec's error surface, not only its happy path, was exercised.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CoverageRecorder", "CoverageReport", "documented_statuses"]

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def documented_statuses(spec: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``"METHOD /path"`` -> the response keys the spec documents (``"200"``, ``"default"``)."""
    found: dict[str, tuple[str, ...]] = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, operation in item.items():
            if method in _HTTP_METHODS and isinstance(operation, Mapping):
                responses = operation.get("responses") or {}
                found[f"{method.upper()} {path}"] = tuple(str(code) for code in responses)
    return found


@dataclass
class CoverageRecorder:
    """Counts responses by operation and status; safe to feed from several worker threads."""

    documented: Mapping[str, tuple[str, ...]]
    selected: tuple[str, ...] = ()
    seen: dict[str, Counter[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, label: str, status: int) -> None:
        with self._lock:
            self.seen.setdefault(label, Counter())[status] += 1

    def report(self) -> CoverageReport:
        with self._lock:
            seen = {label: dict(counts) for label, counts in self.seen.items()}
        labels = list(self.selected) or list(self.documented)
        labels += [label for label in seen if label not in labels]
        return CoverageReport(
            rows=tuple(
                CoverageRow(label, self.documented.get(label, ()), seen.get(label, {}))
                for label in labels
            )
        )


@dataclass(frozen=True)
class CoverageRow:
    label: str
    documented: tuple[str, ...]
    seen: Mapping[int, int]

    def documented_seen(self) -> list[str]:
        return [code for code in self.documented if self._matched(code)]

    def _matched(self, code: str) -> bool:
        if code.isdigit():
            return int(code) in self.seen
        if code.upper().endswith("XX") and code[0].isdigit():  # "4XX"
            return any(str(status)[0] == code[0] for status in self.seen)
        # "default" stands for every status the operation does not list
        listed = {int(c) for c in self.documented if c.isdigit()}
        return any(status not in listed for status in self.seen)


@dataclass(frozen=True)
class CoverageReport:
    rows: tuple[CoverageRow, ...]

    @property
    def statuses(self) -> list[str]:
        codes = {str(status) for row in self.rows for status in row.seen}
        codes |= {code for row in self.rows for code in row.documented}
        return sorted(codes, key=lambda code: (not code[0].isdigit(), code))

    def summary(self) -> dict[str, int]:
        pairs = sum(len(row.documented) for row in self.rows)
        return {
            "operations": len(self.rows),
            "operations_exercised": sum(1 for row in self.rows if row.seen),
            "responses": sum(sum(row.seen.values()) for row in self.rows),
            "documented_pairs": pairs,
            "documented_pairs_seen": sum(len(row.documented_seen()) for row in self.rows),
            "undocumented_pairs_seen": sum(
                1
                for row in self.rows
                for status in row.seen
                if str(status) not in row.documented and "default" not in row.documented
            ),
        }

    def summary_line(self) -> str:
        s = self.summary()
        return (
            f"coverage: {s['operations_exercised']}/{s['operations']} operations answered, "
            f"{s['documented_pairs_seen']}/{s['documented_pairs']} documented statuses seen, "
            f"{s['undocumented_pairs_seen']} undocumented, {s['responses']} responses"
        )

    def markdown(self) -> str:
        codes = self.statuses
        lines = [
            "| operation | " + " | ".join(codes) + " |",
            "|---|" + "---:|" * len(codes),
        ]
        for row in self.rows:
            cells = []
            for code in codes:
                count = row.seen.get(int(code)) if code.isdigit() else None
                cells.append(str(count) if count else "-" if code in row.documented else "")
            lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
        legend = "A number: responses with that status; `-`: documented, never seen."
        return "\n".join([self.summary_line(), "", legend, "", *lines, ""])

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "operations": {
                row.label: {
                    "documented": list(row.documented),
                    "seen": {str(status): count for status, count in sorted(row.seen.items())},
                    "documented_not_seen": [
                        code for code in row.documented if code not in row.documented_seen()
                    ],
                }
                for row in self.rows
            },
        }

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        markdown, as_json = directory / "coverage.md", directory / "coverage.json"
        markdown.write_text(self.markdown(), encoding="utf-8")
        as_json.write_text(json.dumps(self.as_json(), indent=2) + "\n", encoding="utf-8")
        return [markdown, as_json]
