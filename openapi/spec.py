"""Load Together's published OpenAPI spec quickly, and read its operations.

Where the file comes from, and whether it is the pinned version, is ``locate.py``'s business;
this module parses it. Parsing 450 KB of YAML costs a few hundred milliseconds, so
:func:`load_spec` keeps the parsed form twice: in process (keyed by path, mtime and size) and on
disk as JSON named by the file's sha256 (``spec-<sha256>.json``), which later processes read in a
fraction of the time. YAML values JSON cannot hold as-is are normalised first: mapping keys become
strings, timestamps stay as their ISO text.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi.locate import SpecError, SpecNotFound, atomic_writer, default_cache_dir, find_spec_path

__all__ = [
    "HTTP_METHODS",
    "Operation",
    "clear_cache",
    "json_cached",
    "load_spec",
    "normalise",
    "operations",
    "spec_for_server",
]

logger = logging.getLogger(__name__)

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Operation:
    """One HTTP operation of the spec (method upper-case, path as in the spec)."""

    method: str
    path: str
    operation_id: str | None
    tags: tuple[str, ...]
    secured: bool
    responses: tuple[str, ...]


# --- parsing -------------------------------------------------------------------------


@functools.cache
def _spec_loader() -> Any:
    """A safe loader (libyaml when available) that keeps timestamps as their ISO text. Made on
    the first parse: a start that finds the spec's JSON cache never imports PyYAML."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class SpecLoader(base):  # type: ignore[misc]
        pass

    def timestamp_as_text(loader: Any, node: Any) -> str:
        return str(loader.construct_scalar(node))

    SpecLoader.add_constructor("tag:yaml.org,2002:timestamp", timestamp_as_text)
    return SpecLoader


def _key(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, dt.date):
        return key.isoformat()
    return str(key)


def normalise(value: Any) -> Any:
    """A copy of a YAML-parsed value that JSON can hold exactly.

    Mapping keys become strings (``200`` -> ``"200"``), dates and datetimes ISO
    strings, tuples and sets lists, bytes base64 text.
    """
    if isinstance(value, Mapping):
        return {_key(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, set | frozenset):
        return [normalise(v) for v in sorted(value, key=repr)]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _parse_yaml(data: bytes) -> Any:
    import yaml

    return yaml.load(data, Loader=_spec_loader())  # a SafeLoader


def _write_json_atomic(dest: Path, value: Any) -> None:
    with atomic_writer(dest) as fh:
        fh.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def json_cached(
    json_path: Path, build: Callable[[], dict[str, Any]], *, what: str
) -> dict[str, Any]:
    """The JSON object cached at ``json_path``, else ``build()``'s, written there for next time.
    A cache that does not read is ignored and rebuilt; one that cannot be written only costs the
    next start the build again."""
    try:
        cached = json.loads(json_path.read_bytes())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable %s cache %s: %s", what, json_path, exc)
    else:
        if isinstance(cached, dict):
            return cached
        logger.warning("ignoring %s cache %s: not a JSON object", what, json_path)
    value = build()
    try:
        _write_json_atomic(json_path, value)
    except OSError as exc:
        logger.warning("could not write %s cache %s: %s", what, json_path, exc)
    return value


def _load_uncached(path: Path, cache_dir: Path) -> dict[str, Any]:
    data = path.read_bytes()

    def parse() -> dict[str, Any]:
        spec = normalise(_parse_yaml(data))
        if not isinstance(spec, dict):
            raise SpecError(f"{path}: not an OpenAPI document (top level is not a mapping)")
        return spec

    sha = hashlib.sha256(data).hexdigest()
    return json_cached(cache_dir / f"spec-{sha}.json", parse, what="spec")


@functools.lru_cache(maxsize=8)
def _load_keyed(path: str, mtime_ns: int, size: int, cache_dir: str) -> dict[str, Any]:
    del mtime_ns, size  # part of the cache key only
    return _load_uncached(Path(path), Path(cache_dir))


def load_spec(path: Path | None = None, *, cache_dir: Path | None = None) -> dict[str, Any]:
    """The parsed spec at ``path`` (default: :func:`find_spec_path`).

    Cached in process (keyed by path, mtime and size) and on disk as JSON in
    ``cache_dir`` (default :func:`default_cache_dir`). The same dict is returned to
    every caller: treat it as read-only (:func:`spec_for_server` gives a copy).
    """
    spec_path = (path if path is not None else find_spec_path()).resolve()
    try:
        stat = spec_path.stat()
    except FileNotFoundError as exc:
        raise SpecNotFound(f"{spec_path}: no such file") from exc
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    return _load_keyed(str(spec_path), stat.st_mtime_ns, stat.st_size, str(cache))


def clear_cache() -> None:
    """Forget the in-process parsed specs (the JSON files on disk stay)."""
    _load_keyed.cache_clear()


# --- views ---------------------------------------------------------------------------


def spec_for_server(base_url: str, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of the spec whose ``servers`` is ``<base_url>/v1`` (for ``/openapi.json``)."""
    copied: dict[str, Any] = copy.deepcopy(dict(spec if spec is not None else load_spec()))
    copied["servers"] = [{"url": base_url.rstrip("/") + "/v1"}]
    return copied


def _secured(security: Any) -> bool:
    """True when a security requirement list demands credentials.

    An empty list, or one holding an empty requirement (``{}``: anonymous allowed),
    means no credentials are required.
    """
    if not isinstance(security, list) or not security:
        return False
    return all(bool(requirement) for requirement in security)


def operations(spec: Mapping[str, Any]) -> list[Operation]:
    """Every operation in ``spec['paths']``, in document order."""
    default_security = spec.get("security", [])
    found: list[Operation] = []
    for path, item in (spec.get("paths") or {}).items():
        if not isinstance(item, Mapping):
            continue
        for method, op in item.items():
            if method not in HTTP_METHODS or not isinstance(op, Mapping):
                continue
            operation_id = op.get("operationId")
            found.append(
                Operation(
                    method=method.upper(),
                    path=str(path),
                    operation_id=str(operation_id) if operation_id is not None else None,
                    tags=tuple(str(tag) for tag in op.get("tags") or ()),
                    secured=_secured(op.get("security", default_security)),
                    responses=tuple(str(code) for code in op.get("responses") or {}),
                )
            )
    return found
