"""Failures of the simulator that the suite has found and that are not fixed yet, listed by name.

This is not check configuration: each entry is a bug in the simulator (or a gap in the overlay)
with the module that owns the fix. A failure is set aside only when it matches an entry exactly:
the same check, the same operation, and an answer containing the given text, so that the next
failure of the same check on the same operation, for another reason, still fails the run. Set
aside failures are counted and printed with every run, and ``stale()`` names entries that no
longer match anything, so each entry is deleted once its fix lands.

The list applies to simulator targets only: the real service's failures are the finding itself.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemathesis import Case, HookContext, Response
    from schemathesis.core.failures import Failure

__all__ = ["KNOWN_GAPS", "KnownGap", "KnownGaps"]


@dataclass(frozen=True)
class KnownGap:
    check: str
    operation: str  # "METHOD /path"
    answer_contains: str  # text of the response body that marks this gap and no other
    owner: str  # the module that holds the fix
    note: str


# Empty: every gap found so far is fixed. A new entry names the check, the operation, the text of
# the answer that marks it, and the module that holds the fix.
KNOWN_GAPS: tuple[KnownGap, ...] = ()


@dataclass
class KnownGaps:
    """The entries in force for one run, and how often each set a failure aside."""

    gaps: tuple[KnownGap, ...] = KNOWN_GAPS
    matched: Counter[KnownGap] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def find(self, check: str, operation: str, answer: str) -> KnownGap | None:
        return next(
            (
                gap
                for gap in self.gaps
                if gap.check == check
                and gap.operation == operation
                and gap.answer_contains in answer
            ),
            None,
        )

    def hook(self) -> Any:
        """A schemathesis ``filter_failure`` hook that keeps every failure but the known ones."""

        def filter_failure(
            context: HookContext, failure: Failure, case: Case[Any], response: Response
        ) -> bool:
            answer = response.content.decode("utf-8", "replace") if response.content else ""
            for check in type(failure).checks or ("",):
                gap = self.find(check, case.operation.label, answer)
                if gap is not None:
                    with self._lock:
                        self.matched[gap] += 1
                    return False
            return True

        return filter_failure

    def stale(self, selected: tuple[str, ...]) -> list[KnownGap]:
        """Entries for selected operations that set nothing aside in this run."""
        return [g for g in self.gaps if g.operation in selected and not self.matched[g]]

    def summary(self) -> list[str]:
        return [
            f"known gap set aside x{count}: [{gap.check}] {gap.operation} ({gap.owner}): {gap.note}"
            for gap, count in self.matched.items()
        ]
