"""A templated route (``/v1/fine-tunes/{id}``) and whether a request's path is on it: what the
operation index (``index.py``) matches a path with once no fixed route has it."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["Template"]


@dataclass(frozen=True)
class Template:
    """A templated route, matched segment by segment: each parameter takes one whole, non-empty
    segment, as the regular expression ``(?P<id>[^/]+)`` in its place would. No regular
    expression is compiled for it: the specs' ~140 of them were ~15 ms of every start, and a
    request tried them one by one. A parameter inside a segment (``{name}.json``, which neither
    pinned spec has) makes that route a regular expression, compiled on its first use."""

    segments: tuple[str | None, ...]  # a literal segment, or None where a parameter goes
    names: tuple[str, ...]  # the parameters', in order
    route: str

    @classmethod
    def of(cls, route: str) -> Template | None:
        if "{" not in route:
            return None
        parts = route.split("/")
        whole = [len(p) > 2 and p[0] == "{" and p[-1] == "}" and p.count("{") == 1 for p in parts]
        if any("{" in p and not w for p, w in zip(parts, whole, strict=True)):
            return _EmbeddedTemplate(segments=(), names=(), route=route)
        return cls(
            segments=tuple(None if w else p for p, w in zip(parts, whole, strict=True)),
            names=tuple(p[1:-1] for p, w in zip(parts, whole, strict=True) if w),
            route=route,
        )

    @property
    def length(self) -> int:
        return len(self.segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """The parameters of a path split on ``/`` (of this template's length), if it is on it."""
        values = []
        for want, got in zip(self.segments, parts, strict=True):
            if want is None:
                if not got:
                    return None
                values.append(got)
            elif want != got:
                return None
        return dict(zip(self.names, values, strict=True))


class _EmbeddedTemplate(Template):
    """A route with a parameter inside a segment: a regular expression, any number of segments."""

    @property
    def length(self) -> int:
        return -1

    @functools.cached_property
    def _regex(self) -> re.Pattern[str]:
        pieces = re.split(r"\{([^}]+)\}", self.route)
        return re.compile(
            "".join(
                re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>[^/]+)"
                for i, piece in enumerate(pieces)
            )
        )

    def match(self, parts: list[str]) -> dict[str, str] | None:
        found = self._regex.fullmatch("/".join(parts))
        return None if found is None else found.groupdict()
