"""The spec with the overlay applied, kept on disk beside the parsed spec.

Applying the overlay (about a hundred JSONPath actions through an RFC 9535 library) costs more
than parsing the spec from its JSON cache, and every start of the server needs the result: its
typed routes are all checked against it. So the result is written once as JSON, keyed by the
spec's bytes (so each pinned spec has its own), the overlay's bytes and this layout's version, and
read back on every later start. A changed spec or overlay is a new key; a cache file that does not
read is ignored and rebuilt. A pinned file is overlaid as its version (``pin.json``), any other as
its content says (``overlay.version_of_spec``).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from openapi.locate import OVERLAY_PATH, SpecVersion, default_cache_dir, version_of_sha
from openapi.spec import json_cached, load_spec

__all__ = ["overlaid_spec_at"]

_LAYOUT = b"overlaid-2"  # bump when what is cached here changes shape


def overlaid_spec_at(
    spec_path: Path, *, overlay_path: Path = OVERLAY_PATH, cache_dir: Path | None = None
) -> dict[str, Any]:
    """The overlaid spec of the file at ``spec_path``: one dict per process (treat it as
    read-only), from the disk cache when it is there."""
    spec_stat, overlay_stat = spec_path.stat(), overlay_path.stat()
    return _keyed(
        str(spec_path.resolve()),
        (spec_stat.st_mtime_ns, spec_stat.st_size, overlay_stat.st_mtime_ns),
        str(overlay_path),
        str(cache_dir if cache_dir is not None else default_cache_dir()),
    )


@functools.lru_cache(maxsize=4)
def _keyed(
    spec_path: str, stamps: tuple[int, int, int], overlay_path: str, cache_dir: str
) -> dict[str, Any]:
    del stamps  # part of the in-process key only
    spec_bytes, overlay_bytes = Path(spec_path).read_bytes(), Path(overlay_path).read_bytes()
    spec_sha = hashlib.sha256(spec_bytes)
    # A pinned file is its pin's version; another is told by its content (overlay.py).
    version: SpecVersion | None = version_of_sha(spec_sha.hexdigest())
    key = hashlib.sha256(b"\0".join((_LAYOUT, spec_sha.digest(), overlay_bytes))).hexdigest()

    def build() -> dict[str, Any]:
        from openapi.overlay import overlaid_spec  # YAML and JSONPath: only on a miss

        return overlaid_spec(
            load_spec(Path(spec_path)), overlay_path=Path(overlay_path), version=version
        )

    return json_cached(Path(cache_dir) / f"overlaid-{key}.json", build, what="overlaid-spec")
