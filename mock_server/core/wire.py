"""What goes on the wire the same way from every layer: JSON bodies and the client generation
that decides how event types are spelled."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["json_body", "wants_upper_case_events"]


def json_body(content: Any) -> bytes:
    """JSON exactly as Starlette's ``JSONResponse`` renders it, so a body kept or answered ahead
    of FastAPI is byte for byte what the route would send."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def wants_upper_case_events(user_agent: str) -> bool:
    """The 1.5.x SDK validates event types against an upper-case enum; everyone else (the spec,
    3.x, 2.x) uses lower case. Its User-Agent is ``Together/v1 PythonBindings/<version>``."""
    return "PythonBindings" in user_agent
