"""Find, pin, check and load Together's published OpenAPI spec.

The simulator is checked against the Together REST API description published in
``togethercomputer/openapi`` (``openapi.yaml``, pinned in ``pin.json`` by URL and
sha256). That file is *data*: it is never copied into this repository. It is looked
up, in order, at

1. the path in ``$TOGETHER_SIM_SPEC`` (a user may point at a newer spec on purpose:
   a sha256 that differs from the pin is logged, not refused);
2. ``<repo root>/../shared/openapi/together-openapi.yaml``;
3. ``shared/openapi/together-openapi.yaml`` under the parent of the current directory;
4. an earlier download in the cache directory (``$TOGETHER_SIM_CACHE``, else
   ``~/.cache/together-sim``), which must match the pin;
5. a fresh download of the pinned URL into that cache, verified before it is kept.

Parsing 450 KB of YAML costs a few hundred milliseconds, so :func:`load_spec` keeps
the parsed form twice: in process (keyed by path, mtime and size) and on disk as JSON
named by the file's sha256 (``spec-<sha256>.json``), which later processes read in a
fraction of the time. YAML values JSON cannot hold as-is are normalised first:
mapping keys become strings, timestamps stay as their ISO text.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import httpx

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = [
    "ENV_CACHE",
    "ENV_SPEC",
    "HTTP_METHODS",
    "REPO_ROOT",
    "SPEC_FILENAME",
    "Operation",
    "Pin",
    "SpecError",
    "SpecIntegrityError",
    "SpecNotFound",
    "clear_cache",
    "default_cache_dir",
    "download_spec",
    "find_spec_path",
    "load_pin",
    "load_spec",
    "main",
    "normalise",
    "operations",
    "sha256_file",
    "spec_for_server",
    "verify",
]

logger = logging.getLogger(__name__)

ENV_SPEC = "TOGETHER_SIM_SPEC"
ENV_CACHE = "TOGETHER_SIM_CACHE"
SPEC_FILENAME = "together-openapi.yaml"
REPO_ROOT = Path(__file__).resolve().parent.parent
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOWNLOAD_TIMEOUT_S = 20.0

_PIN_FILE = Path(__file__).with_name("pin.json")
_SHARED_RELATIVE = Path("shared") / "openapi" / SPEC_FILENAME


class SpecError(Exception):
    """Base class of every error raised while finding or loading the spec."""


class SpecNotFound(SpecError):
    """No usable copy of the spec was found in any of the places tried."""


class SpecIntegrityError(SpecError):
    """A spec file's sha256 does not match the pin where a match is required."""


@dataclass(frozen=True)
class Pin:
    """The exact upstream spec version this project is written against."""

    url: str
    sha256: str
    operations: int
    api_version: str


@dataclass(frozen=True)
class Operation:
    """One HTTP operation of the spec (method upper-case, path as in the spec)."""

    method: str
    path: str
    operation_id: str | None
    tags: tuple[str, ...]
    secured: bool
    responses: tuple[str, ...]


@functools.cache
def load_pin() -> Pin:
    """The pin from ``openapi/pin.json``."""
    raw = json.loads(_PIN_FILE.read_text(encoding="utf-8"))
    return Pin(
        url=str(raw["url"]),
        sha256=str(raw["sha256"]).lower(),
        operations=int(raw["operations"]),
        api_version=str(raw["api_version"]),
    )


def default_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    """``$TOGETHER_SIM_CACHE`` if set, else ``~/.cache/together-sim``."""
    configured = env.get(ENV_CACHE)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "together-sim"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, *, strict: bool = False, pin: Pin | None = None) -> str:
    """Return ``path``'s sha256, checking it against the pin.

    A mismatch raises :class:`SpecIntegrityError` when ``strict`` (files this project
    downloaded itself); otherwise it is logged as a warning and accepted (a file the
    user chose, possibly a newer spec on purpose).
    """
    pin = pin or load_pin()
    sha = sha256_file(path)
    if sha != pin.sha256:
        message = f"{path}: sha256 {sha} differs from the pinned {pin.sha256} ({pin.url})"
        if strict:
            raise SpecIntegrityError(message)
        logger.warning("%s; using it anyway", message)
    return sha


def _cached_download_path(cache_dir: Path, pin: Pin) -> Path:
    return cache_dir / f"together-openapi-{pin.sha256}.yaml"


@contextmanager
def _atomic_writer(dest: Path) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside ``dest``; rename it over ``dest`` on success."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        tmp.chmod(0o644)  # mkstemp creates 0600; the cache is not secret
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def download_spec(
    cache_dir: Path, *, client: httpx.Client | None = None, pin: Pin | None = None
) -> Path:
    """Download the pinned spec into ``cache_dir`` and return its path.

    The sha256 is checked before the file is renamed into place: on a mismatch
    :class:`SpecIntegrityError` is raised and nothing is left in the cache. Network
    failures propagate as :class:`httpx.HTTPError`.
    """
    import httpx  # imported here: it costs ~100 ms and is rarely needed

    pin = pin or load_pin()
    dest = _cached_download_path(cache_dir, pin)
    own_client = client is None
    http = client or httpx.Client(timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True)
    try:
        digest = hashlib.sha256()
        with http.stream("GET", pin.url) as response:
            response.raise_for_status()
            with _atomic_writer(dest) as fh:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    fh.write(chunk)
                if digest.hexdigest() != pin.sha256:
                    raise SpecIntegrityError(
                        f"download of {pin.url}: sha256 {digest.hexdigest()} differs from "
                        f"the pinned {pin.sha256}; not kept"
                    )
    finally:
        if own_client:
            http.close()
    logger.info("downloaded %s to %s", pin.url, dest)
    return dest


def find_spec_path(
    *,
    env: Mapping[str, str] = os.environ,
    repo_root: Path = REPO_ROOT,
    cache_dir: Path | None = None,
    cwd: Path | None = None,
    client: httpx.Client | None = None,
    allow_download: bool = True,
) -> Path:
    """Locate the spec (see the module docstring for the order) and return its path.

    ``client`` is used for the download (inject one with an ``httpx.MockTransport``
    in tests). Raises :class:`SpecNotFound` listing every place tried, or
    :class:`SpecIntegrityError` for a cached or downloaded file that fails the pin.
    """
    pin = load_pin()
    from_env = env.get(ENV_SPEC)
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise SpecNotFound(f"${ENV_SPEC} is set to {from_env!r}, but no file is there")
        verify(path, pin=pin)
        return path

    tried = [f"${ENV_SPEC}: not set"]
    local_candidates = [
        repo_root / ".." / _SHARED_RELATIVE,
        (cwd or Path.cwd()).parent / _SHARED_RELATIVE,
    ]
    seen: set[Path] = set()
    for candidate in local_candidates:
        resolved = candidate.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        if resolved.is_file():
            verify(resolved, pin=pin)
            return resolved
        tried.append(f"{resolved}: missing")

    cache = cache_dir if cache_dir is not None else default_cache_dir(env)
    cached = _cached_download_path(cache, pin)
    if cached.is_file():
        verify(cached, strict=True, pin=pin)
        return cached
    tried.append(f"{cached}: missing (cached download)")

    import httpx

    if not allow_download:
        tried.append(f"download of {pin.url}: not allowed")
    else:
        try:
            return download_spec(cache, client=client, pin=pin)
        except httpx.HTTPError as exc:
            tried.append(f"download of {pin.url}: {type(exc).__name__}: {exc}")
        except OSError as exc:
            tried.append(f"download of {pin.url} into {cache}: {exc}")

    places = "\n".join(f"  - {entry}" for entry in tried)
    raise SpecNotFound(
        "Together OpenAPI spec not found. Tried:\n"
        f"{places}\n"
        f"Set ${ENV_SPEC} to a local copy of {pin.url} (sha256 {pin.sha256})."
    )


# --- parsing -------------------------------------------------------------------------


class _SpecLoader(_BaseLoader):
    """Safe loader (libyaml when available) that keeps timestamps as their ISO text."""


def _timestamp_as_text(loader: _SpecLoader, node: yaml.Node) -> str:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return str(value)


_SpecLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


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
    return yaml.load(data, Loader=_SpecLoader)  # _SpecLoader is a SafeLoader


def _write_json_atomic(dest: Path, value: Any) -> None:
    with _atomic_writer(dest) as fh:
        fh.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _load_uncached(path: Path, cache_dir: Path) -> dict[str, Any]:
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    json_path = cache_dir / f"spec-{sha}.json"
    try:
        cached = json.loads(json_path.read_bytes())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable spec cache %s: %s", json_path, exc)
    else:
        if isinstance(cached, dict):
            return cached
        logger.warning("ignoring spec cache %s: not a JSON object", json_path)

    spec = normalise(_parse_yaml(data))
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: not an OpenAPI document (top level is not a mapping)")
    try:
        _write_json_atomic(json_path, spec)
    except OSError as exc:
        logger.warning("could not write spec cache %s: %s", json_path, exc)
    return spec


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


# --- command line --------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m openapi check``: print where the spec is, its sha256 and size.

    Exit status 0 when the spec is found, matches the pin and the overlay still applies (every
    action selects and changes something), 1 when not, 2 when it cannot be found or loaded.
    """
    parser = argparse.ArgumentParser(
        prog="python -m openapi", description="Find and check Together's OpenAPI spec."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="find the spec and compare it with the pin")
    check.add_argument("--no-download", action="store_true", help="never use the network")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    pin = load_pin()
    try:
        path = find_spec_path(allow_download=not args.no_download)
        sha = sha256_file(path)
        ops = operations(load_spec(path))
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from openapi.overlay import OverlayError, check_overlay

    try:
        overlay = check_overlay(load_spec(path))
    except (OSError, OverlayError) as exc:
        overlay = [f"STALE: cannot apply the overlay: {exc}"]
    matches = sha == pin.sha256
    print(f"path:       {path}")
    print(f"sha256:     {sha}")
    print(f"pin:        {'match' if matches else 'MISMATCH, pinned ' + pin.sha256} ({pin.url})")
    print(f"operations: {len(ops)} (pinned {pin.operations})")
    print(f"overlay:    {len(overlay)} actions")
    for line in overlay:
        print(f"  {line}")
    applies = not any(line.startswith("STALE") for line in overlay)
    return 0 if matches and len(ops) == pin.operations and applies else 1
