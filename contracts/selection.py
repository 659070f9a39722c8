"""Which operations a contract run covers, and why the others are left out.

Operations are named by schemathesis's label, ``"METHOD /path"`` with the spec's path
(``"POST /fine-tunes"``), and chosen with shell-style patterns on that label
(``--include 'GET /files*'``, ``--exclude '* /rl/*'``).

Two lists decide what is left out by default:

- ``UNTESTABLE``, for every target: operations schemathesis cannot speak to at all.
- ``COSTS_MONEY``, against the real service only: operations that start billable work or create
  billable resources. Each is run there only when an ``--include`` pattern names it. Operations
  that are free (listing, retrieving, uploading and deleting files, price estimates, cancelling
  and deleting, reading catalogues) stay in, so a run against the service exercises its reads and
  its rejections of bad input, and its stateful file flow, without spending anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

__all__ = ["COSTS_MONEY", "UNTESTABLE", "Exclusion", "Selection", "select"]


@dataclass(frozen=True)
class Exclusion:
    pattern: str  # a shell-style pattern on "METHOD /path"
    reason: str

    def matches(self, label: str) -> bool:
        return fnmatchcase(label, self.pattern)


UNTESTABLE: tuple[Exclusion, ...] = (
    # These answer 101 Switching Protocols and speak WebSocket frames after it; schemathesis
    # sends plain HTTP requests, which such an endpoint can only refuse.
    Exclusion("GET /audio/speech/websocket", "WebSocket endpoint (schemathesis speaks HTTP)"),
    Exclusion("GET /realtime", "WebSocket endpoint (schemathesis speaks HTTP)"),
)

COSTS_MONEY: tuple[Exclusion, ...] = (
    Exclusion("POST /fine-tunes", "starts a paid training job"),
    Exclusion("POST /endpoints", "a dedicated endpoint bills per minute while it runs"),
    Exclusion("PATCH /endpoints/*", "can start a stopped endpoint or add replicas"),
    Exclusion("POST /deployments", "a deployment runs on billed GPUs"),
    Exclusion("PATCH /deployments/*", "can scale a deployment up"),
    Exclusion("POST /deployments/storage/volumes", "billed storage"),
    Exclusion("PATCH /deployments/storage/volumes/*", "can grow billed storage"),
    Exclusion("POST /compute/clusters", "a GPU cluster bills per hour"),
    Exclusion("PUT /compute/clusters/*", "can add GPUs to a cluster"),
    Exclusion("POST /compute/clusters/storage/volumes", "billed storage"),
    Exclusion("PUT /compute/clusters/storage/volumes", "can grow billed storage"),
    Exclusion("POST /batches", "batch inference bills per token"),
    Exclusion("POST /evaluation", "an evaluation runs (and bills) models"),
    Exclusion("POST /queue/submit", "runs a queued inference job"),
    Exclusion("POST /rl/*", "RL training sessions and their steps run on billed GPUs"),
    Exclusion("POST /tci/execute", "code-interpreter sessions are billed"),
    Exclusion("POST /models", "uploads a model into billed storage"),
    Exclusion("POST /videos", "video generation bills per video"),
    Exclusion("POST /images/generations", "image generation bills per image"),
    Exclusion("POST /audio/*", "speech and transcription bill per character or second"),
    Exclusion("POST /embeddings", "bills per token"),
    Exclusion("POST /rerank", "bills per token"),
    # When included, loading.cap_generation keeps max_tokens at 4 and n at 1.
    Exclusion("POST /chat/completions", "bills per token (when included: max_tokens <= 4, n = 1)"),
    Exclusion("POST /completions", "bills per token (when included: max_tokens <= 4, n = 1)"),
)


@dataclass(frozen=True)
class Selection:
    selected: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # label -> why it is left out


def _named(label: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(label, pattern) for pattern in patterns)


def select(
    labels: Iterable[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    real: bool = False,
) -> Selection:
    """The operations to run, in ``labels`` order, and the reason for each one left out."""
    selected: list[str] = []
    skipped: dict[str, str] = {}
    for label in labels:
        if include and not _named(label, include):
            skipped[label] = "not named by --include"
            continue
        if _named(label, exclude):
            skipped[label] = "named by --exclude"
            continue
        untestable = next((e for e in UNTESTABLE if e.matches(label)), None)
        if untestable is not None:
            skipped[label] = untestable.reason
            continue
        costly = next((e for e in COSTS_MONEY if e.matches(label)), None)
        if real and costly is not None and not _named(label, include):
            skipped[label] = f"costs money on the real service: {costly.reason}"
            continue
        selected.append(label)
    return Selection(tuple(selected), skipped)
