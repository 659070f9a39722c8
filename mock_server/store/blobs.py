"""Bytes, kept apart from the records that describe them: uploaded files' bodies, the parts of
uploads still arriving, and real jobs' training folders.

Records go to a database and bytes to a ``BlobStore``, so a store on another database (the
PostgreSQL one) keeps its bytes where this one does, and the routes stream bodies without the
database in the way. This one keeps them under the data dir (a shared volume serves replicas on
one host); ``s3_blobs.py`` keeps them in S3-compatible object storage, for replicas anywhere.
Workers and ``FileResponse`` want a file on disk, which is why ``path`` and ``training_dir``
hand out local paths rather than only streams.

``LocalBlobStore`` keeps the layout data dirs already have, so they open unchanged::

    blobs/<file id>              a file's bytes, once its upload is complete
    parts/<file id>.<n>.part     part n of an upload in flight (0: a one-shot upload's body,
                                 and the whole a multipart upload is joined into)
    parts/<file id>.<n>.lock     the claim of the one request writing part n (``claim_part``)
    parts/<file id>.<x>.tmp      a write_bytes in progress, renamed into blobs/ when complete
    training/<job id>/           a real job's base model, checkpoints, outputs and archives
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Container, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

__all__ = ["BlobStore", "LocalBlobStore", "PartInUse"]


class PartInUse(Exception):
    """Another request (in this process or another on the same data dir) is writing the part."""

    def __init__(self, file_id: str, part: int) -> None:
        super().__init__(f"part {part} of {file_id} is being written by another request")
        self.file_id = file_id
        self.part = part


class BlobStore(Protocol):
    """Bytes by file id (and folders by job id). A blob is asked for only once its record says
    it exists, so a missing one is a damaged data dir rather than a 404: reads raise
    ``FileNotFoundError``, and the record layer keeps answering ``NotFound``."""

    def path(self, file_id: str) -> Path:
        """A local file holding the blob, for workers and ``FileResponse``."""

    def exists(self, file_id: str) -> bool: ...
    def read_bytes(self, file_id: str) -> bytes: ...
    def open_read(self, file_id: str) -> BinaryIO: ...
    def write_bytes(self, file_id: str, data: bytes) -> None:
        """All or nothing: a reader never sees half a blob, even after a crash mid-write."""

    def delete(self, file_id: str) -> None:
        """Quietly nothing if there is no such blob (a delete retried after a crash)."""

    def part_path(self, file_id: str, part: int = 0) -> Path:
        """Where part ``part`` of an upload in flight is written as it streams in."""

    def claim_part(self, file_id: str, part: int = 0) -> AbstractContextManager[Path]:
        """The one right to write part ``part`` (its path) while the block runs: two requests
        streaming into one part would interleave their bytes. Raises ``PartInUse`` at once,
        never waits, if another holds it."""

    def open_part(self, file_id: str, part: int) -> BinaryIO:
        """Part ``part`` as received, whichever process (or replica) received it, for the join
        (under the part's claim); ``FileNotFoundError`` if it never arrived whole."""

    def commit_part(self, file_id: str, part: Path) -> None:
        """Make a fully received part the file's blob, all at once."""

    def discard_parts(self, file_id: str) -> None:
        """Drop every part of an upload (aborted, or joined into its blob)."""

    def remove_orphaned_parts(self, in_flight: Container[str]) -> int:
        """Remove the parts no upload in ``in_flight`` (file ids) will finish and interrupted
        writes: what a crash left behind; how many. Meant for startup: this process writes
        nothing yet, and what another process is writing is spared."""

    def training_dir(self, job_id: str) -> Path:
        """A real job's folder (not created here: the launcher makes it when the job starts)."""

    def delete_training_dir(self, job_id: str) -> None: ...
    def clear(self) -> None:
        """Drop every blob, part and training folder (``/_sim/reset``)."""

    def close(self) -> None:
        """Let go of what the store holds open (an object store's connections); at shutdown."""


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._parts = root / "parts"
        self._training = root / "training"
        self._blobs.mkdir(parents=True, exist_ok=True)  # callers stream straight into paths
        self._parts.mkdir(exist_ok=True)

    # -- blobs ------------------------------------------------------------------------------------

    def path(self, file_id: str) -> Path:
        return self._blobs / _name(file_id)

    def exists(self, file_id: str) -> bool:
        return self.path(file_id).is_file()

    def read_bytes(self, file_id: str) -> bytes:
        return self.path(file_id).read_bytes()

    def open_read(self, file_id: str) -> BinaryIO:
        return self.path(file_id).open("rb")

    def write_bytes(self, file_id: str, data: bytes) -> None:
        # The temporary file sits in parts/, on the same filesystem as blobs/ (so the rename is
        # atomic) and where ``orphaned_parts`` finds it if the process dies before the rename.
        # No fsync, as the database runs with synchronous=NORMAL: safe against a killed process,
        # not against losing power.
        target = self.path(file_id)
        fd, temp = tempfile.mkstemp(dir=self._parts, prefix=f"{_name(file_id)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def delete(self, file_id: str) -> None:
        self.path(file_id).unlink(missing_ok=True)

    # -- uploads in flight ------------------------------------------------------------------------

    def part_path(self, file_id: str, part: int = 0) -> Path:
        if part < 0:
            raise ValueError(f"part numbers start at 0 (got {part})")
        return self._parts / f"{_name(file_id)}.{part}.part"

    @contextmanager
    def claim_part(self, file_id: str, part: int = 0) -> Iterator[Path]:
        # An exclusive create is the claim: atomic between threads and between processes on one
        # data dir, where an in-memory lock would cover only this process. The flock held on it
        # for the claim's life is what tells a later startup a live claim from one a killed
        # process left (the kernel drops it with the process, kill -9 included).
        path = self.part_path(file_id, part)
        lock = path.with_suffix(".lock")
        self._parts.mkdir(exist_ok=True)  # a /_sim/reset may have just emptied parts/
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise PartInUse(file_id, part) from None
        try:
            # Blocking, but only ever on a startup's probe (``_held``): the exclusive create
            # already shut out every other writer.
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield path
        finally:
            # Unlinked while still flocked: a lock file that exists unflocked is a dead one.
            lock.unlink(missing_ok=True)
            os.close(fd)

    def open_part(self, file_id: str, part: int) -> BinaryIO:
        return self.part_path(file_id, part).open("rb")

    def commit_part(self, file_id: str, part: Path) -> None:
        os.replace(part, self.path(file_id))

    def discard_parts(self, file_id: str) -> None:
        name = _name(file_id)
        for path in self._parts.iterdir():
            if _part_owner(path.name) == name:
                path.unlink(missing_ok=True)

    def remove_orphaned_parts(self, in_flight: Container[str], *, min_age: float = 600.0) -> int:
        orphans = self.orphaned_parts(in_flight, tmp_age=min_age)
        for path in orphans:
            path.unlink(missing_ok=True)
        return len(orphans)

    def orphaned_parts(self, in_flight: Container[str], *, tmp_age: float = 600.0) -> list[Path]:
        """What no one will finish: a part of an upload no longer in flight; a part whose
        writer died mid-write (its claim left behind, held by no one), and that claim; part 0
        of any upload unless a live writer holds it (a one-shot body or a multipart join, which
        the next attempt rewrites from its first byte); ``write_bytes`` temp files older than
        ``tmp_age`` seconds (a younger one may be another process's write still going on).
        Parts come before the claims they sit beside, so removing in order never frees a claim
        while its half-written part is still there for a new writer to find."""
        stale_before = time.time() - tmp_age
        entries = sorted(self._parts.iterdir())
        claims = [path for path in entries if _part_owner(path.name, suffix="lock") is not None]
        live = {path.stem for path in claims if _held(path)}
        dead = [path for path in claims if path.stem not in live]
        dead_stems = {path.stem for path in dead}
        orphans = []
        for path in entries:
            part = _part_of(path.name)
            if path.name.endswith(".tmp"):
                if _mtime(path) < stale_before:
                    orphans.append(path)
            elif part is None or path.stem in live:
                continue
            elif part[0] not in in_flight or part[1] == 0 or path.stem in dead_stems:
                orphans.append(path)
        return orphans + dead

    # -- real jobs' folders -----------------------------------------------------------------------

    def training_dir(self, job_id: str) -> Path:
        return self._training / _name(job_id)

    def delete_training_dir(self, job_id: str) -> None:
        shutil.rmtree(self.training_dir(job_id), ignore_errors=True)

    def clear(self) -> None:
        for folder in (self._blobs, self._parts, self._training):
            shutil.rmtree(folder, ignore_errors=True)
        self._blobs.mkdir(exist_ok=True)  # a delete that left something must not fail the reset
        self._parts.mkdir(exist_ok=True)

    def close(self) -> None:
        pass  # files are opened and closed by each call: nothing stays open


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # renamed into place meanwhile
        return float("inf")


def _name(id_: str) -> str:
    """An id as one plain file name: ids are generated, but one that could step out of its folder
    (``..``, a slash) would make a path outside the data dir, so it is refused outright."""
    if not id_ or id_ in {".", ".."} or any(c in id_ for c in "/\\\0"):
        raise ValueError(f"{id_!r} cannot name a blob")
    return id_


def _held(lock: Path) -> bool:
    """Whether a live writer holds the claim ``lock``: it keeps an flock on it until it unlinks
    it. A shared probe, so two startups probing at once do not take each other for writers."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:  # released meanwhile: nothing left to clean
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the probe's own flock
    return False


def _part_of(name: str, *, suffix: str = "part") -> tuple[str, int] | None:
    """The file id and number of ``<file id>.<n>.part`` (or ``.lock``, a claim on it); None for
    anything else in parts/."""
    stem, dot, found = name.rpartition(".")
    if not dot or found != suffix:
        return None
    owner, dot, number = stem.rpartition(".")
    return (owner, int(number)) if dot and owner and number.isdigit() else None


def _part_owner(name: str, *, suffix: str = "part") -> str | None:
    part = _part_of(name, suffix=suffix)
    return None if part is None else part[0]
