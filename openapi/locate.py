"""Find and pin Together's published OpenAPI specs: where one is, and whether it is a pinned one.

Two versions of the Together REST API description are pinned in ``pin.json`` (sha256, operation
count, where each came from), and one of them is selected:

- ``august`` (the default): the August 2026 spec, 197 operations, the surface SDK 3.x is generated
  from. It was extracted from the mock script of Together's TypeScript SDK, so it has no plain
  download URL: when no copy is found the error says so in one line.
- ``april``: the April 2026 ``openapi.yaml`` of ``togethercomputer/openapi`` (99 operations, SDK
  2.12's surface), downloadable from its pinned URL.

The version is ``$TOGETHER_SIM_SPEC_VERSION`` (``serve --spec-version`` sets the same setting),
else the pin's default. Both files are *data*: never copied into this repository. The selected
one is looked up, in order, at

1. the path in ``$TOGETHER_SIM_SPEC`` (a user may point at another spec on purpose: a sha256 that
   matches no pin is logged, not refused; an explicit path wins over the version);
2. ``<repo root>/../shared/openapi/<the version's file name>``;
3. ``shared/openapi/<the version's file name>`` under the parent of the current directory;
4. for a version with a URL, an earlier download in the cache directory (``$TOGETHER_SIM_CACHE``,
   else ``~/.cache/together-sim``), which must match the pin;
5. for a version with a URL, a fresh download into that cache, verified before it is kept.

Apart from the parsing (``spec.py``): this half is about files, the pins and the network, and the
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
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ENV_CACHE",
    "ENV_SPEC",
    "ENV_SPEC_VERSION",
    "REPO_ROOT",
    "Pin",
    "SpecError",
    "SpecIntegrityError",
    "SpecNotFound",
    "SpecVersion",
    "atomic_writer",
    "default_cache_dir",
    "default_spec_version",
    "download_spec",
    "find_spec_path",
    "load_pin",
    "pins",
    "selected_version",
    "sha256_file",
    "verify",
    "version_of_sha",
]

OVERLAY_PATH = Path(__file__).with_name("overlay.yaml")  # the corrections, in this repo
logger = logging.getLogger(__name__)

ENV_SPEC = "TOGETHER_SIM_SPEC"
ENV_SPEC_VERSION = "TOGETHER_SIM_SPEC_VERSION"
ENV_CACHE = "TOGETHER_SIM_CACHE"
REPO_ROOT = Path(__file__).resolve().parent.parent
DOWNLOAD_TIMEOUT_S = 20.0

_PIN_FILE = Path(__file__).with_name("pin.json")
_SHARED_DIR = Path("shared") / "openapi"


class SpecVersion(StrEnum):
    """The pinned spec versions, named by the month Together published them."""

    april = "april"  # togethercomputer/openapi 090263a: SDK 2.12's surface
    august = "august"  # the TypeScript SDK's mock spec of 2026-08-19: SDK 3.x's surface


class SpecError(Exception):
    """Base class of every error raised while finding or loading the spec."""


class SpecNotFound(SpecError):
    """No usable copy of the spec was found in any of the places tried."""


class SpecIntegrityError(SpecError):
    """A spec file's sha256 does not match the pin where a match is required."""


@dataclass(frozen=True)
class Pin:
    """One exact upstream spec this project is written against."""

    version: SpecVersion
    filename: str  # its name under ../shared/openapi/
    url: str | None  # None: published nowhere as a plain file (see ``source``)
    source: str
    sha256: str
    operations: int
    api_version: str


@functools.cache
def _pin_file() -> tuple[SpecVersion, dict[SpecVersion, Pin]]:
    raw = json.loads(_PIN_FILE.read_text(encoding="utf-8"))
    found = {
        SpecVersion(name): Pin(
            version=SpecVersion(name),
            filename=str(entry["filename"]),
            url=str(entry["url"]) if entry.get("url") else None,
            source=str(entry["source"]),
            sha256=str(entry["sha256"]).lower(),
            operations=int(entry["operations"]),
            api_version=str(entry["api_version"]),
        )
        for name, entry in raw["specs"].items()
    }
    return SpecVersion(raw["default"]), found


def pins() -> dict[SpecVersion, Pin]:
    """Every pinned spec, by version."""
    return dict(_pin_file()[1])


def default_spec_version() -> SpecVersion:
    """The version served when nothing selects another (``pin.json``'s ``default``)."""
    return _pin_file()[0]


def selected_version(
    version: SpecVersion | str | None = None, env: Mapping[str, str] = os.environ
) -> SpecVersion:
    """``version`` if given, else ``$TOGETHER_SIM_SPEC_VERSION``, else the default. A name that
    is no version is a :class:`SpecError` naming the ones there are."""
    chosen = version if version is not None else env.get(ENV_SPEC_VERSION) or None
    if chosen is None:
        return default_spec_version()
    try:
        return SpecVersion(str(chosen).strip().lower())
    except ValueError:
        names = ", ".join(v.value for v in SpecVersion)
        raise SpecError(f"unknown spec version {chosen!r}: one of {names}") from None


def load_pin(version: SpecVersion | str | None = None) -> Pin:
    """The pin of ``version`` (default: :func:`selected_version`)."""
    return _pin_file()[1][selected_version(version)]


def version_of_sha(sha256: str) -> SpecVersion | None:
    """The pinned version whose file has this sha256, if any."""
    return next((pin.version for pin in pins().values() if pin.sha256 == sha256.lower()), None)


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
    downloaded itself); otherwise it is logged as a warning and accepted (a file the user chose,
    possibly a newer spec on purpose). A file that is another pinned version is no surprise: it
    is accepted without a warning (``TOGETHER_SIM_SPEC`` naming the April file, say).
    """
    pin = pin or load_pin()
    sha = sha256_file(path)
    if sha != pin.sha256:
        message = (
            f"{path}: sha256 {sha} differs from the pinned {pin.sha256} "
            f"({pin.version} spec, {pin.url or pin.source})"
        )
        if strict:
            raise SpecIntegrityError(message)
        if version_of_sha(sha) is None:
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
    failures propagate as :class:`httpx.HTTPError`; a version with no URL is a
    :class:`SpecNotFound`.
    """
    import httpx  # imported here: it costs ~100 ms and is rarely needed

    pin = pin or load_pin()
    if pin.url is None:
        raise SpecNotFound(f"the {pin.version} spec has no download URL ({pin.source})")
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
    version: SpecVersion | str | None = None,
    env: Mapping[str, str] = os.environ,
    repo_root: Path = REPO_ROOT,
    cache_dir: Path | None = None,
    cwd: Path | None = None,
    client: httpx.Client | None = None,
    allow_download: bool = True,
) -> Path:
    """Locate the spec of ``version`` (default: :func:`selected_version`; see the module
    docstring for the order) and return its path.

    ``client`` is used for the download (inject one with an ``httpx.MockTransport``
    in tests). Raises :class:`SpecNotFound` listing every place tried (in one line for a
    version with no download), or :class:`SpecIntegrityError` for a cached or downloaded file
    that fails the pin.
    """
    pin = load_pin(selected_version(version, env))
    from_env = env.get(ENV_SPEC)
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise SpecNotFound(f"${ENV_SPEC} is set to {from_env!r}, but no file is there")
        verify(path, pin=pin)
        return path

    tried = [f"${ENV_SPEC}: not set"]
    shared = _SHARED_DIR / pin.filename
    local_candidates = [repo_root / ".." / shared, (cwd or Path.cwd()).parent / shared]
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

    if pin.url is None:
        others = ", ".join(v.value for v in SpecVersion if v is not pin.version)
        raise SpecNotFound(
            f"the {pin.version} spec ({pin.filename}, sha256 {pin.sha256}) is not at "
            f"{' nor '.join(str(p) for p in seen)} and has no download URL (it was extracted "
            f"from {pin.source.split(':')[0]}): put it there, set ${ENV_SPEC} to it, or select "
            f"another version (${ENV_SPEC_VERSION}: {others})"
        )

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
        f"Together OpenAPI spec ({pin.version}) not found. Tried:\n"
        f"{places}\n"
        f"Set ${ENV_SPEC} to a local copy of {pin.url} (sha256 {pin.sha256})."
    )
