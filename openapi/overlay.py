"""The spec's known gaps as an overlay: ``overlay.yaml`` beside this file, applied on load.

Together's spec is pinned data and never edited or copied here, so what the simulator knows
better (enum values the service emits, statuses it answers, OpenAPI links for stateful testing)
lives in a small OpenAPI Overlay 1.0 document: ``actions``, each a ``target`` that selects nodes
and either an ``update`` merged into them or ``remove: true``. Merging follows the Overlay
specification: objects merge recursively, other values replace, arrays concatenate, and a target
that *is* an array gets ``update`` appended (a value already there is not appended twice).

Targets are the subset of JSONPath (RFC 9535) these patches need, parsed here rather than with a
dependency: ``$``, ``.name``, ``['name']``, unions of names ``['a','b']``, array indices ``[0]``,
``.*`` / ``[*]``, and filters ``[?test && !test]``
whose tests are existence checks on ``@`` paths (``[?@.responses && !@.responses['401']]``).
Anything else is refused with the target named, so a patch never silently selects the wrong node.

An action that selects nothing, or changes nothing, means upstream moved or fixed the gap:
loading goes on (with a warning), and ``python -m openapi check`` reports it.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "OVERLAY_PATH",
    "Action",
    "ActionReport",
    "Overlay",
    "OverlayError",
    "apply_overlay",
    "check_overlay",
    "load_overlay",
    "overlaid_spec",
    "select",
]

logger = logging.getLogger(__name__)

OVERLAY_PATH = Path(__file__).with_name("overlay.yaml")


class OverlayError(Exception):
    """The overlay document is malformed or uses target syntax this module does not read."""


@dataclass(frozen=True)
class Action:
    target: str
    description: str = ""
    update: Any = None
    remove: bool = False


@dataclass(frozen=True)
class Overlay:
    title: str
    version: str
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class ActionReport:
    """What one action did: how many nodes it selected and how many it changed."""

    action: Action
    selected: int
    changed: int

    @property
    def stale(self) -> bool:
        return self.selected == 0 or self.changed == 0


def load_overlay(path: Path = OVERLAY_PATH) -> Overlay:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, Mapping) or not str(raw.get("overlay", "")).startswith("1."):
        raise OverlayError(f"{path}: not an OpenAPI Overlay 1.x document")
    actions = []
    for index, entry in enumerate(raw.get("actions") or ()):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("target"), str):
            raise OverlayError(f"{path}: action {index} has no target")
        if ("update" in entry) == bool(entry.get("remove")):
            raise OverlayError(f"{path}: action {index} needs exactly one of update, remove")
        _parse(entry["target"])  # refuse unreadable targets at load time
        actions.append(
            Action(
                target=entry["target"],
                description=str(entry.get("description", "")),
                update=entry.get("update"),
                remove=bool(entry.get("remove")),
            )
        )
    info = raw.get("info") or {}
    return Overlay(str(info.get("title", "")), str(info.get("version", "")), tuple(actions))


def apply_overlay(
    spec: Mapping[str, Any], overlay: Overlay
) -> tuple[dict[str, Any], list[ActionReport]]:
    """A patched deep copy of ``spec``, and a report per action (the input is not touched)."""
    document: dict[str, Any] = copy.deepcopy(dict(spec))
    reports = []
    for action in overlay.actions:
        locations = select(document, action.target)
        changed = 0
        # Removals go last-first so that deleting from a list keeps the other indices valid.
        for parent, key in reversed(locations) if action.remove else locations:
            if action.remove:
                if parent is None:
                    raise OverlayError(f"{action.target}: the root cannot be removed")
                del parent[key]
                changed += 1
            else:
                node = document if parent is None else parent[key]
                merged = _merge(node, action.update)
                if merged != node:
                    changed += 1
                    if parent is None:
                        document = merged
                    else:
                        parent[key] = merged
        report = ActionReport(action, selected=len(locations), changed=changed)
        if report.stale:
            logger.warning(
                "overlay action %r %s",
                action.target,
                "selects nothing"
                if not locations
                else "changes nothing (upstream may have fixed the gap)",
            )
        reports.append(report)
    return document, reports


_overlaid: dict[tuple[int, str, int], tuple[Mapping[str, Any], dict[str, Any]]] = {}


def overlaid_spec(
    spec: Mapping[str, Any] | None = None, *, overlay_path: Path = OVERLAY_PATH
) -> dict[str, Any]:
    """The spec (default: :func:`openapi.spec.load_spec`) with the overlay applied, built once
    per parsed spec and overlay file. Treat it as read-only, like ``load_spec``'s."""
    if spec is None:
        from openapi.spec import load_spec

        spec = load_spec()
    key = (id(spec), str(overlay_path), overlay_path.stat().st_mtime_ns)
    cached = _overlaid.get(key)
    if cached is None or cached[0] is not spec:
        cached = (spec, apply_overlay(spec, load_overlay(overlay_path))[0])
        _overlaid[key] = cached  # holding ``spec`` keeps its id from being reused
    return cached[1]


def check_overlay(spec: Mapping[str, Any], overlay_path: Path = OVERLAY_PATH) -> list[str]:
    """One line per action for ``python -m openapi check``; stale ones start with ``STALE``."""
    _, reports = apply_overlay(spec, load_overlay(overlay_path))
    return [
        f"{'STALE' if report.stale else 'ok'}: {report.action.description or report.action.target}"
        f" ({report.selected} selected, {report.changed} changed)"
        for report in reports
    ]


def _merge(node: Any, update: Any) -> Any:
    if isinstance(node, list):  # the target is an array: ``update`` is one entry to append
        return node if update in node else [*node, copy.deepcopy(update)]
    if isinstance(node, dict) and isinstance(update, Mapping):
        merged = dict(node)
        for key, value in update.items():
            if key in merged and isinstance(merged[key], dict | list):
                merged[key] = _merge_member(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    return copy.deepcopy(update)


def _merge_member(current: Any, value: Any) -> Any:
    """A member below the target: lists concatenate with lists, objects merge with objects."""
    if isinstance(current, list) and isinstance(value, list):
        return current + [item for item in value if item not in current]
    if isinstance(current, dict) and isinstance(value, Mapping):
        return _merge(current, value)
    return copy.deepcopy(value)


# --- targets ---------------------------------------------------------------------------------

_Location = tuple[Any, Any]  # (parent container or None for the root, key or index)

_NAME = r"[A-Za-z_$][A-Za-z0-9_$-]*"
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_SEGMENT = re.compile(
    rf"\.(?P<name>{_NAME})|\.\*|\[\*\]|\[(?P<index>\d+)\]"
    rf"|\[\s*(?P<quoted>(?:{_QUOTED})(?:\s*,\s*(?:{_QUOTED}))*)\s*\]"
)
_QUOTED_NAME = re.compile(_QUOTED)
_TEST = re.compile(rf"\s*(?P<neg>!?)\s*@(?P<path>(?:\.{_NAME}|\[(?:{_QUOTED})\])+)\s*$")
_STEP = re.compile(rf"\.(?P<name>{_NAME})|\[(?P<quoted>{_QUOTED})\]")


@dataclass(frozen=True)
class _Segment:
    kind: str  # "name", "index", "wildcard" or "filter"
    names: tuple[str, ...] = ()  # one name, or a union ['a','b'] selected in this order
    tests: tuple[tuple[bool, tuple[str, ...]], ...] = ()  # (negated, relative path)


def _unquote(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


def _steps(text: str) -> tuple[str, ...]:
    return tuple(
        m["name"] if m["name"] is not None else _unquote(m["quoted"]) for m in _STEP.finditer(text)
    )


def _filter_end(target: str, start: int) -> int:
    """The index of the ``]`` closing the filter that opens at ``start`` (quotes and nested
    brackets skipped)."""
    depth, quote, position = 0, "", start
    while position < len(target):
        char = target[position]
        if quote:
            if char == "\\":
                position += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return position
        position += 1
    raise OverlayError(f"target {target!r}: unclosed filter")


def _parse_filter(target: str, text: str) -> _Segment:
    tests = []
    for term in text.split("&&"):
        test = _TEST.match(term)
        if test is None:
            raise OverlayError(f"target {target!r}: unsupported filter test {term.strip()!r}")
        tests.append((test["neg"] == "!", _steps(test["path"])))
    return _Segment("filter", tests=tuple(tests))


def _parse(target: str) -> list[_Segment]:
    if not target.startswith("$"):
        raise OverlayError(f"target {target!r}: must start with $")
    segments, position = [], 1
    while position < len(target):
        if target.startswith("[?", position):
            end = _filter_end(target, position)
            segments.append(_parse_filter(target, target[position + 2 : end]))
            position = end + 1
            continue
        match = _SEGMENT.match(target, position)
        if match is None:
            raise OverlayError(f"target {target!r}: cannot read {target[position:]!r}")
        if match["name"] is not None:
            segments.append(_Segment("name", (match["name"],)))
        elif match["index"] is not None:
            segments.append(_Segment("index", (match["index"],)))
        elif match["quoted"] is not None:
            names = tuple(_unquote(q.group()) for q in _QUOTED_NAME.finditer(match["quoted"]))
            segments.append(_Segment("name", names))
        else:
            segments.append(_Segment("wildcard"))
        position = match.end()
    return segments


def _children(value: Any) -> list[_Location]:
    if isinstance(value, dict):
        return [(value, key) for key in value]
    if isinstance(value, list):
        return [(value, index) for index in range(len(value))]
    return []


def _exists(value: Any, path: tuple[str, ...]) -> bool:
    for step in path:
        if not isinstance(value, dict) or step not in value:
            return False
        value = value[step]
    return True


def select(document: Any, target: str) -> list[_Location]:
    """The nodes ``target`` selects, as (parent, key) pairs; the root is ``(None, None)``."""
    locations: list[_Location] = [(None, None)]
    for segment in _parse(target):
        found: list[_Location] = []
        for parent, key in locations:
            node = document if parent is None else parent[key]
            if segment.kind == "name":
                if isinstance(node, dict):
                    found.extend((node, name) for name in segment.names if name in node)
            elif segment.kind == "index":
                if isinstance(node, list) and int(segment.names[0]) < len(node):
                    found.append((node, int(segment.names[0])))
            elif segment.kind == "wildcard":
                found.extend(_children(node))
            else:
                found.extend(
                    (container, child)
                    for container, child in _children(node)
                    if all(
                        _exists(container[child], path) != negated
                        for negated, path in segment.tests
                    )
                )
        locations = found
    return locations
