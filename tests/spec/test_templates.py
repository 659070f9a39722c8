"""Templated routes (``mock_server.spec.templates``): a path is on one segment by segment, as the
regular expression with ``[^/]+`` for each parameter would have it."""

from __future__ import annotations

import re

from mock_server.spec.index import OperationIndex
from mock_server.spec.templates import Template


def _as_regex(route: str) -> re.Pattern[str]:
    """A templated route as a regular expression, each parameter ``[^/]+``: the reference
    the segment matcher must agree with (and what the index compiled before it)."""
    pieces = re.split(r"\{([^}]+)\}", route)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(pieces))
    )


def _match(template: Template, path: str) -> dict[str, str] | None:
    parts = path.split("/")
    if template.length not in (len(parts), -1):
        return None
    return template.match(parts)


def test_a_templated_route_matches_segment_by_segment_as_its_regex_would(
    index: OperationIndex,
) -> None:
    templated = {op.route for op in index.operations if "{" in op.route}
    assert len(templated) > 90
    for route in templated:
        template = Template.of(route)
        assert template is not None
        filled = re.sub(r"\{[^}]+\}", "x-1", route)
        emptied = re.sub(r"\{[^}]+\}", "", route)
        literal_changed = route.replace("/v", "/w", 1)
        for path in (filled, filled + "/", emptied, filled + "/more", literal_changed, "/"):
            found = _as_regex(route).fullmatch(path)
            assert _match(template, path) == (found.groupdict() if found else None), (route, path)


def test_a_parameter_inside_a_segment_falls_back_to_a_regular_expression() -> None:
    # Neither pinned spec has one; a spec that did would still be served.
    template = Template.of("/v1/files/{id}.jsonl")
    assert template is not None and template.length == -1
    assert _match(template, "/v1/files/file-1.jsonl") == {"id": "file-1"}
    assert _match(template, "/v1/files/.jsonl") is None
    assert _match(template, "/v1/files/a/b.jsonl") is None
    assert Template.of("/v1/files") is None
