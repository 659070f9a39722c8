"""Timestamps as the clients parse them.

The 1.5.x CLI parses job times with ``%Y-%m-%dT%H:%M:%S.%f%z`` and event times with a literal
``Z``; ``+00:00`` breaks it. So every timestamp leaves the server as UTC with microseconds and
``Z``: ``2026-01-01T12:00:00.000000Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["iso", "parse_iso", "unix"]


@lru_cache(maxsize=16384)  # the same job and event times are rendered on every read of a job
def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def unix(moment: datetime) -> int:
    return int(moment.timestamp())
