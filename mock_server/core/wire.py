"""What goes on the wire the same way from every layer: JSON bodies and the client generation
that decides how event types are spelled."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "json_body", "too_deep", "wants_upper_case_events"]

# No body of Together's API nests deeper than a few levels; far deeper ones only exhaust the
# recursion of whatever reads them next (the JSON parser, jsonschema, pydantic).
MAX_DEPTH = 64


def json_body(content: Any) -> bytes:
    """JSON exactly as Starlette's ``JSONResponse`` renders it, so a body kept or answered ahead
    of FastAPI is byte for byte what the route would send."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def wants_upper_case_events(user_agent: str) -> bool:
    """The 1.5.x SDK validates event types against an upper-case enum; everyone else (the spec,
    3.x, 2.x) uses lower case. Its User-Agent is ``Together/v1 PythonBindings/<version>``."""
    return "PythonBindings" in user_agent


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels (walked without
    recursion, so the check itself cannot run out of stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
