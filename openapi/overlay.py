"""The spec's known gaps as an overlay: ``overlay.yaml`` beside this file, applied on load.

Together's spec is pinned data and never edited or copied here, so what the simulator knows
better (enum values the service emits, statuses it answers, OpenAPI links for stateful testing)
lives in a small OpenAPI Overlay 1.0 document: ``actions``, each a ``target`` that selects nodes
and either an ``update`` merged into them or ``remove: true``. Merging follows the Overlay
specification: objects merge recursively, other values replace, arrays concatenate, and a target
that *is* an array gets ``update`` appended (a value already there is not appended twice).

Targets are RFC 9535 JSONPath queries, read by ``jsonpath-rfc9535`` (a strict implementation of the
RFC that passes the JSONPath compliance suite; imported on the first load of an overlay, so a
server that never loads one never pays for it). A target that is not valid RFC 9535 is refused at
load time with the target named, so a patch never silently selects the wrong node.

An action that selects nothing, or changes nothing, means upstream moved or fixed the gap:
loading goes on (with a warning), and ``python -m openapi check`` reports it.

Two spec versions are pinned (``pin.json``) and one overlay serves both. Most actions fit both as
they are (a union of names selects whichever the spec has: ``['prompts','model_inputs']``). An
action that only one version needs (a gap the later spec filled, an operation that names the
later spec's schemas) says so with ``x-together-sim-specs: [august]``; it is left out, and not
reported stale, when the other version is overlaid. Which version a document is comes from the
caller, else from its operation count against the pins, else the default version.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from openapi.locate import OVERLAY_PATH, SpecVersion, default_spec_version, pins

if TYPE_CHECKING:
    from jsonpath_rfc9535 import JSONPathQuery

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
    "version_of_spec",
]

logger = logging.getLogger(__name__)


class OverlayError(Exception):
    """The overlay document is malformed, or a target is not an RFC 9535 query."""


@dataclass(frozen=True)
class Action:
    target: str
    description: str = ""
    update: Any = None
    remove: bool = False
    specs: tuple[SpecVersion, ...] = tuple(SpecVersion)  # the versions it is meant for

    def applies_to(self, version: SpecVersion) -> bool:
        return version in self.specs


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
        _query(entry["target"])  # refuse unreadable targets at load time
        actions.append(
            Action(
                target=entry["target"],
                description=str(entry.get("description", "")),
                update=entry.get("update"),
                remove=bool(entry.get("remove")),
                specs=_versions(path, index, entry.get("x-together-sim-specs")),
            )
        )
    info = raw.get("info") or {}
    return Overlay(str(info.get("title", "")), str(info.get("version", "")), tuple(actions))


def _versions(path: Path, index: int, named: Any) -> tuple[SpecVersion, ...]:
    if named is None:
        return tuple(SpecVersion)
    try:
        return tuple(SpecVersion(str(name)) for name in named)
    except (TypeError, ValueError):
        known = ", ".join(v.value for v in SpecVersion)
        raise OverlayError(
            f"{path}: action {index}: x-together-sim-specs names no known version ({known})"
        ) from None


def version_of_spec(spec: Mapping[str, Any]) -> SpecVersion:
    """The pinned version ``spec`` is, told by its operation count (the August spec is a strict
    superset of the April one); an unknown document counts as the default version."""
    from openapi.spec import operations  # spec.py imports nothing of this module

    count = len(operations(spec))
    matching = [pin.version for pin in pins().values() if pin.operations == count]
    return matching[0] if len(matching) == 1 else default_spec_version()


def apply_overlay(
    spec: Mapping[str, Any], overlay: Overlay, *, version: SpecVersion | None = None
) -> tuple[dict[str, Any], list[ActionReport]]:
    """A patched deep copy of ``spec``, and a report per action meant for its version (the
    input is not touched)."""
    version = version or version_of_spec(spec)
    document: dict[str, Any] = copy.deepcopy(dict(spec))
    reports = []
    for action in overlay.actions:
        if not action.applies_to(version):
            continue
        locations = select(document, action.target)
        changed = 0
        for parent, key in _removal_order(locations) if action.remove else locations:
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


_overlaid: dict[
    tuple[int, str, int, SpecVersion | None], tuple[Mapping[str, Any], dict[str, Any]]
] = {}


def overlaid_spec(
    spec: Mapping[str, Any] | None = None,
    *,
    overlay_path: Path = OVERLAY_PATH,
    version: SpecVersion | None = None,
) -> dict[str, Any]:
    """The spec (default: :func:`openapi.spec.load_spec`) with the overlay applied, built once
    per parsed spec, version and overlay file. Treat it as read-only, like ``load_spec``'s."""
    if spec is None:
        from openapi.spec import load_spec

        spec = load_spec()
    key = (id(spec), str(overlay_path), overlay_path.stat().st_mtime_ns, version)
    cached = _overlaid.get(key)
    if cached is None or cached[0] is not spec:
        cached = (spec, apply_overlay(spec, load_overlay(overlay_path), version=version)[0])
        _overlaid[key] = cached  # holding ``spec`` keeps its id from being reused
    return cached[1]


def check_overlay(
    spec: Mapping[str, Any],
    overlay_path: Path = OVERLAY_PATH,
    *,
    version: SpecVersion | None = None,
) -> list[str]:
    """One line per action meant for the spec's version, for ``python -m openapi check``; stale
    ones start with ``STALE``."""
    _, reports = apply_overlay(spec, load_overlay(overlay_path), version=version)
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


@functools.lru_cache(maxsize=256)
def _query(target: str) -> JSONPathQuery:
    """``target`` compiled once: the overlay's targets repeat across loads and checks."""
    import jsonpath_rfc9535  # only a load of the overlay needs the parser

    try:
        return jsonpath_rfc9535.compile(target)
    except jsonpath_rfc9535.JSONPathError as exc:
        raise OverlayError(f"target {target!r}: {exc}") from exc


def select(document: Any, target: str) -> list[_Location]:
    """The nodes ``target`` selects, as (parent, key) pairs in the query's order; the root is
    ``(None, None)``. A location is the node's normalized path, walked from ``document``, so the
    pair names the container an update or a removal must change."""
    locations: list[_Location] = []
    for node in _query(target).find(document):
        if not node.location:
            locations.append((None, None))
            continue
        parent = document
        for step in node.location[:-1]:
            parent = parent[step]
        locations.append((parent, node.location[-1]))
    return locations


def _removal_order(locations: list[_Location]) -> list[_Location]:
    """Each selected node once, array items from the highest index down, so that deleting one
    never shifts another still to be deleted (a union may list ``[0, 2]`` in any order)."""
    unique = list({(id(parent), key): (parent, key) for parent, key in locations}.values())
    return sorted(unique, key=lambda loc: -loc[1] if isinstance(loc[0], list) else 0)
