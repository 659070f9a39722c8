"""How the project-scoped lists read their query, pure: ``filter``, ``orderBy``, ``limit`` and the
``after`` cursor of ``GET /v2/projects/{projectId}/endpoints`` (and the organization's list).

The spec's filter is "an expression using ``name``, ``created_at``, or ``updated_at`` with
comparison operators and AND/OR/NOT": the simulator takes comparisons joined by ``AND``
(``name="my-endpoint"``, which the 3.x CLI sends to find an endpoint by name, ``name:"part"``
for a substring, ``*`` wildcards at either end, and ``created_at > "2026-08-01T00:00:00Z"``),
and refuses the rest with a 400 naming ``filter`` rather than answer a list it did not filter.
A cursor is the id of the last item of the previous page.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from mock_server.core.errors import InvalidRequest
from mock_server.core.paging import page_bounds
from mock_server.core.timefmt import parse_iso

__all__ = ["Listed", "Page", "page"]

_T = TypeVar("_T")

_COMPARISON = re.compile(
    r'^\s*(name|created_at|updated_at)\s*(=|!=|:|<=|>=|<|>)\s*"([^"]*)"\s*$', re.IGNORECASE
)
_AND = re.compile(r"\s+AND\s+")


@dataclass(frozen=True)
class Listed:
    """What a list filters and orders on: the bare ``name`` and the two timestamps."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Page(Generic[_T]):
    items: list[_T]
    next_cursor: str | None


def _matches_name(value: str, op: str, pattern: str) -> bool:
    if op == ":":
        return pattern.strip("*") in value
    if pattern.startswith("*") or pattern.endswith("*"):
        regex = ".*".join(re.escape(part) for part in pattern.split("*"))
        hit = re.fullmatch(regex, value) is not None
    else:
        hit = value == pattern
    return hit if op == "=" else not hit if op == "!=" else False


def _compare(value: datetime, op: str, moment: datetime) -> bool:
    return {
        "=": value == moment,
        "!=": value != moment,
        "<": value < moment,
        "<=": value <= moment,
        ">": value > moment,
        ">=": value >= moment,
    }.get(op, False)


def _name_test(item: Listed, *, op: str, pattern: str) -> bool:
    return _matches_name(item.name, op, pattern)


def _time_test(item: Listed, *, field: str, op: str, moment: datetime) -> bool:
    value: datetime = getattr(item, field)
    return _compare(value, op, moment)


def _predicate(expression: str) -> Callable[[Listed], bool]:
    tests: list[Callable[[Listed], bool]] = []
    for part in _AND.split(expression.strip()):
        found = _COMPARISON.match(part)
        if found is None:
            raise InvalidRequest(
                f"filter {expression!r}: the simulator reads comparisons of name, created_at or "
                'updated_at with a quoted value, joined by AND (name="my-endpoint")',
                param="filter",
            )
        field, op, value = found.group(1).lower(), found.group(2), found.group(3)
        if field == "name":
            bare = value.rsplit("/", 1)[-1]  # "a bare endpoint name or <project_slug>/<name>"
            if op not in ("=", "!=", ":"):
                raise InvalidRequest(f"filter: name takes =, != or :, not {op}", param="filter")
            tests.append(functools.partial(_name_test, op=op, pattern=bare))
            continue
        if op == ":":
            raise InvalidRequest(f"filter: {field} takes a comparison, not :", param="filter")
        try:
            moment = parse_iso(value)
        except ValueError as exc:
            raise InvalidRequest(
                f"filter: {field} compares with an RFC 3339 time, not {value!r}", param="filter"
            ) from exc
        tests.append(functools.partial(_time_test, field=field, op=op, moment=moment))
    return lambda item: all(test(item) for test in tests)


def page(
    items: Sequence[tuple[Listed, _T]],
    *,
    limit: int | None,
    after: str | None,
    order_by: str | None,
    filter_: str | None,
) -> Page[_T]:
    """One page of ``items`` (each with what it is listed by), newest first unless ``orderBy``
    says otherwise; ``limit`` and ``after`` read as every project list reads them
    (``core/paging``). A blank ``orderBy`` is the default order, as an absent one."""
    field, descending = "created_at", True
    words = (order_by or "").split()
    if words:
        if (
            words[0] not in ("created_at", "updated_at")
            or len(words) > 2
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise InvalidRequest(
                f"orderBy {order_by!r}: created_at or updated_at, optionally followed by asc "
                "or desc",
                param="orderBy",
            )
        field = words[0]
        descending = len(words) == 1 or words[1].lower() == "desc"
    # Built once, before any item is read: a bad filter is a 400 even on an empty list.
    keep = _predicate(filter_) if filter_ is not None else None
    chosen = [pair for pair in items if keep is None or keep(pair[0])]
    chosen.sort(key=lambda pair: (getattr(pair[0], field), pair[0].id), reverse=descending)
    start, stop = page_bounds([listed.id for listed, _ in chosen], limit=limit, after=after)
    shown = chosen[start:stop]
    more = len(chosen) > stop
    return Page([item for _, item in shown], shown[-1][0].id if more and shown else None)
