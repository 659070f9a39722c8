"""A JSON request body read into Python values, refusing what JSON cannot hold.

Numbers are finite: Python's ``json`` reads ``NaN``, ``Infinity`` and ``-Infinity`` (and turns
``1e400`` into infinity), none of which is JSON or a value any field can hold, and one that got
into a stored record would break every later read of it. Such a value is refused wherever it
is, naming the field (``learning_rate: must be a finite number``), before any schema is asked.
Nesting is bounded too (``core.wire.MAX_DEPTH``), so a hostile body cannot exhaust the stack of
whatever walks it next.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mock_server.core.errors import InvalidRequest
from mock_server.core.wire import MAX_DEPTH, too_deep

__all__ = ["parse_json"]


class _NotFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):  # 1e400
        raise _NotFinite(text)
    return number


def _no_constant(text: str) -> float:
    raise _NotFinite(text)  # NaN, Infinity, -Infinity


_NOT_FINITE = object()


def _where_not_finite(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The path to the first marked value in ``value``, if any."""
    if value is _NOT_FINITE:
        return path
    if isinstance(value, dict):
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return None
    for key, child in children:
        found = _where_not_finite(child, (*path, key))
        if found is not None:
            return found
    return None


def parse_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """A JSON body as Python values, refusing what is not JSON, non-finite numbers included
    (a 400 naming the field). The body is read once; only one holding such a number is read a
    second time, with those values marked, to say which field it is."""
    try:
        parsed = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except _NotFinite:
        marked = json.loads(
            raw,
            parse_constant=lambda _: _NOT_FINITE,
            parse_float=lambda text: _NOT_FINITE if math.isinf(float(text)) else float(text),
        )
        field = ".".join(str(p) for p in _where_not_finite(marked) or ()) or None
        message = f"{field}: must be a finite number" if field else "must be a finite number"
        raise InvalidRequest(message, param=field) from None
    except ValueError:
        raise InvalidRequest("The request body is not valid JSON", param=None) from None
    if too_deep(parsed, max_depth):
        raise _too_deep(max_depth)
    return parsed


def _too_deep(limit: int) -> InvalidRequest:
    return InvalidRequest(
        f"The request body nests arrays and objects more than {limit} levels deep", param=None
    )
