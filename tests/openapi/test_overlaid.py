"""The overlaid spec's disk cache: the same document as applying the overlay, read back on the
next start, and rebuilt when the overlay changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from openapi import SpecVersion, find_spec_path, load_spec
from openapi.locate import OVERLAY_PATH
from openapi.overlaid import _keyed, overlaid_spec_at
from openapi.overlay import apply_overlay, load_overlay


def test_the_cached_document_is_the_overlay_applied_and_is_read_back(tmp_path: Path) -> None:
    spec_path = find_spec_path(allow_download=False)
    fresh = apply_overlay(load_spec(spec_path), load_overlay(OVERLAY_PATH))[0]
    built = overlaid_spec_at(spec_path, cache_dir=tmp_path)
    assert built == fresh
    [cached] = list(tmp_path.glob("overlaid-*.json"))
    assert json.loads(cached.read_bytes()) == fresh

    _keyed.cache_clear()  # a new process: it reads the file rather than applying the overlay
    cached.write_text(json.dumps({**fresh, "x-read-from": "cache"}))
    assert overlaid_spec_at(spec_path, cache_dir=tmp_path)["x-read-from"] == "cache"


def test_a_changed_overlay_is_a_new_cache_entry(tmp_path: Path) -> None:
    spec_path = find_spec_path(allow_download=False)
    overlay = tmp_path / "overlay.yaml"
    shutil.copy(OVERLAY_PATH, overlay)
    overlaid_spec_at(spec_path, overlay_path=overlay, cache_dir=tmp_path / "cache")
    overlay.write_text(overlay.read_text() + "\n# a comment is a change too\n")
    overlaid_spec_at(spec_path, overlay_path=overlay, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("overlaid-*.json"))) == 2


def test_an_unreadable_cache_file_is_rebuilt(tmp_path: Path) -> None:
    spec_path = find_spec_path(allow_download=False)
    good = overlaid_spec_at(spec_path, cache_dir=tmp_path)
    [cached] = list(tmp_path.glob("overlaid-*.json"))
    cached.write_text("{not json")
    _keyed.cache_clear()
    assert overlaid_spec_at(spec_path, cache_dir=tmp_path) == good
    assert json.loads(cached.read_bytes()) == good


def test_each_pinned_spec_has_its_own_cache_entry(tmp_path: Path) -> None:
    april, august = (
        overlaid_spec_at(
            find_spec_path(version=version, allow_download=False, env={}), cache_dir=tmp_path
        )
        for version in SpecVersion
    )
    assert len(list(tmp_path.glob("overlaid-*.json"))) == 2
    assert "/rl/model-resources" not in april["paths"]
    assert "/rl/model-resources" in august["paths"]
