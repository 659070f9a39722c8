"""The one reading of a list's ``limit`` and ``after`` cursor, shared by the project lists
(``projects/listing.py``) and the project model families (``families/project_models``), so that
both answer a page or a bad cursor the same way.

The spec's lists say "Max 500, defaults to 50" of ``limit`` (endpoints, deployments, A/B and
shadow experiments, rollouts, placement profiles; the event log's is 10000, which it passes in)
and a cursor is "from a previous list response". The project API is a gRPC gateway, where an
integer left unset reads as 0: ``limit=0`` is the default page, as SDK 3.1.1's own generated
tests expect when they send it (and as the RL sessions' list reads it). A negative ``limit``, one
over the maximum, or an ``after`` that names no item of the list is a 400 naming the parameter,
never a silently different page (an empty page for a stale cursor would read as "no more" to a
client's loop).
"""

from __future__ import annotations

from collections.abc import Sequence

from mock_server.core.errors import InvalidRequest

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "page_bounds"]

DEFAULT_LIMIT = 50  # "defaults to 50"
MAX_LIMIT = 500  # "Max 500"


def page_bounds(
    ids: Sequence[str], *, limit: int | None, after: str | None, maximum: int = MAX_LIMIT
) -> tuple[int, int]:
    """The slice ``[start, stop)`` of ``ids`` (the listed items' ids, in list order) that one
    page shows."""
    if limit is not None and not 0 <= limit <= maximum:
        raise InvalidRequest(
            f"limit must be 0 (the default, {DEFAULT_LIMIT}) to {maximum} (got {limit})",
            param="limit",
        )
    start = 0
    if after:
        try:
            start = list(ids).index(after) + 1
        except ValueError:
            raise InvalidRequest(
                f"after {after!r} is not a cursor of this list", param="after"
            ) from None
    return start, start + (limit or DEFAULT_LIMIT)
