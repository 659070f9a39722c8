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


_CONFLICT = (
    "a name already in use answers 400; the request is valid and conflicts with state, which is "
    "a 409 Conflict (positive_data_acceptance accepts that; document 409 in the overlay)"
)

KNOWN_GAPS: tuple[KnownGap, ...] = (
    *(
        KnownGap("positive_data_acceptance", label, "already exists", owner, _CONFLICT)
        for label, owner in (
            ("POST /deployments/secrets", "families/secrets.py"),
            ("PATCH /deployments/secrets/{id}", "families/secrets.py"),
            ("POST /deployments/storage/volumes", "families/deployment_volumes.py"),
            ("PATCH /deployments/storage/volumes/{id}", "families/deployment_volumes.py"),
            ("POST /deployments", "families/deployments.py"),
            ("PATCH /deployments/{id}", "families/deployments.py"),
            ("POST /models", "families/model_uploads.py"),
        )
    ),
    KnownGap(
        "positive_data_acceptance",
        "POST /videos",
        "seconds must be",
        "families/videos.py",
        '`seconds` is a free string in the spec (the SDK\'s generated tests send "seconds"); '
        "the family refuses what is not a positive number",
    ),
    KnownGap(
        "positive_data_acceptance",
        "POST /videos",
        "must be positive",
        "families/videos.py",
        "width and height are unbounded integers in the spec (the SDK's generated tests send "
        "0); the family refuses 0",
    ),
    KnownGap(
        "positive_data_acceptance",
        "GET /rl/checkpoints/{id}/download",
        "variant must be",
        "families/rl_checkpoints.py",
        "the spec's RL.CheckpointVariant enum has a value the family refuses "
        "(CHECKPOINT_VARIANT_UNSPECIFIED): accept it, or take it out of the enum in the overlay",
    ),
    KnownGap(
        "positive_data_acceptance",
        "GET /evaluation/model-list",
        "model_source must be",
        "families/evaluations.py",
        "model_source is a free string in the spec; the family allows all, serverless and "
        "dedicated only: state that enum in the overlay, or accept any source",
    ),
    KnownGap(
        "positive_data_acceptance",
        "PUT /compute/clusters/storage/volumes",
        "volume_id is required",
        "families/shared_volumes.py",
        "volume_id is optional in the spec (and the SDK's generated tests leave it out); the "
        "family refuses an update without it: accept it, or answer 404 for the volume it cannot "
        "name",
    ),
    KnownGap(
        "positive_data_acceptance",
        "POST /rl/training-sessions/{session_id}/operations/sample",
        "num_samples must be",
        "families/rl_operations.py",
        "num_samples has no maximum in the spec; the family caps it at 64 (it had allocated "
        "every sample: a huge num_samples exhausted memory): state the cap in the overlay",
    ),
    KnownGap(
        "positive_data_acceptance",
        "POST /rl/training-sessions",
        "not found",
        "families/rl_sessions.py",
        "a resume_from_checkpoint_id that names nothing answers 400; a missing referenced "
        "resource is a 404 elsewhere (training_file, input_file_id): answer and document 404",
    ),
)


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
