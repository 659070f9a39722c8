"""The string and integer formats the simulator holds values to, on the way in and on the way out.

The spec's ``format`` keywords are of two kinds. ``date-time``, ``date``, ``uuid``, ``uri``,
``int32`` and ``int64`` constrain the value: the service cannot read ``2024-01-01T12:99:00Z`` as
a time, and a contract tester (schemathesis) sends such values expecting a 400 and validates
answers against them. ``float``, ``double``, ``binary`` and ``byte`` only tell code generators
which type to use, and are not checked. ``FORMATS`` is a jsonschema ``FormatChecker`` holding the
first kind, so request validation rejects what the service would and a synthesized or echoed
value never breaks the schema it is sent under.

``date-time`` is RFC 3339 (``T`` or a space between date and time, a ``Z`` or numeric offset),
checked here because jsonschema's own checker needs an optional dependency.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from jsonschema import FormatChecker

__all__ = ["FORMATS"]

FORMATS = FormatChecker(formats=())

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)([Zz]|[+-]\d{2}:\d{2})"
)
_INTEGER_BITS = {"int32": 32, "int64": 64}


@FORMATS.checks("date-time")
def _date_time(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    found = _RFC3339.fullmatch(value)
    if found is None:
        return False
    date, time, offset = found.groups()
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        dt.datetime.fromisoformat(f"{date}T{time}{offset}")
    except ValueError:
        return False
    return True


@FORMATS.checks("date")
def _date(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is None:
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("uuid")
def _uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


@FORMATS.checks("uri")
def _uri(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    scheme = urlsplit(value).scheme
    return re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) is not None


def _integer(bits: int) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        # 1e30 is an integer to JSON Schema (no fractional part), so it is held to the width too.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return True
        return -(1 << (bits - 1)) <= value < 1 << (bits - 1)

    return check


for _name, _bits in _INTEGER_BITS.items():
    FORMATS.checks(_name)(_integer(_bits))
