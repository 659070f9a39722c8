"""Find and pin Together's published OpenAPI spec: where it is, and whether it is the pinned one.

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

Apart from the parsing (``spec.py``): this half is about files, the pin and the network, and the
callers that need only the file (its path and sha256: the benchmarks, ``python -m openapi check``)
use it alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ENV_CACHE",
    "ENV_SPEC",
    "REPO_ROOT",
    "SPEC_FILENAME",
    "Pin",
    "SpecError",
    "SpecIntegrityError",
    "SpecNotFound",
    "atomic_writer",
    "default_cache_dir",
    "download_spec",
    "find_spec_path",
    "load_pin",
    "sha256_file",
    "verify",
]

OVERLAY_PATH = Path(__file__).with_name("overlay.yaml")  # the corrections, in this repo
logger = logging.getLogger(__name__)

ENV_SPEC = "TOGETHER_SIM_SPEC"
ENV_CACHE = "TOGETHER_SIM_CACHE"
SPEC_FILENAME = "together-openapi.yaml"
REPO_ROOT = Path(__file__).resolve().parent.parent
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
def atomic_writer(dest: Path) -> Iterator[IO[bytes]]:
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
            with atomic_writer(dest) as fh:
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
