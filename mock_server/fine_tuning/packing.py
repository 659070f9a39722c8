"""The ``tar.zst`` container of every download: a flat, deterministic tar in a zstd stream.

Together hands back a zstandard-compressed tar with flat members, and the clients save the bytes as
they come, so what matters is a genuine archive. The tar is deterministic (USTAR, members in the
order given, fixed mtime/uid/gid/mode, empty owner names), so identical contents give
byte-identical archives, which lets callers cache them by name. Used both for the synthetic
archives (``archive.py``) and for packing a real job's output folder (:func:`pack_dir`).
"""

from __future__ import annotations

import os
import tarfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final

import zstandard

__all__ = ["PRIVATE_FILES", "pack_dir", "tar_zst", "tarinfo", "write_atomically"]

MTIME: Final = 1_700_000_000  # fixed, so that archives are reproducible
_ZSTD_LEVEL: Final = 3


def tarinfo(name: str, size: int) -> tarfile.TarInfo:
    """A member header with nothing of the machine in it: fixed time, owner and mode."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


@contextmanager
def tar_zst(fh: BinaryIO) -> Iterator[tarfile.TarFile]:
    """A streaming tar (``w|``: no seeking, members written as added) compressed into ``fh``."""
    cctx = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_checksum=True)
    with (
        cctx.stream_writer(fh, closefd=False) as zw,
        tarfile.open(fileobj=zw, mode="w|", format=tarfile.USTAR_FORMAT) as tf,
    ):
        yield tf


def write_atomically(dest: Path, write: Callable[[BinaryIO], None]) -> int:
    """Run ``write`` on a temporary file beside ``dest``, then rename it into place: a reader (or
    a cache lookup) never sees half an archive. Returns the size written."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest.stat().st_size


# Trainer state (optimizer moments, RNG) lets a run resume; it is no part of what Together serves.
PRIVATE_FILES: Final = frozenset({"trainer_state.pt"})


def pack_dir(src: Path, dest: Path) -> int:
    """The files of ``src`` (a real job's adapter, model or checkpoint folder) as a flat tar.zst
    in the same format as the synthetic archives, written atomically; returns its size."""
    files = sorted(p for p in Path(src).iterdir() if p.is_file() and p.name not in PRIVATE_FILES)

    def write(fh: BinaryIO) -> None:
        with tar_zst(fh) as tf:
            for path in files:
                with path.open("rb") as content:
                    tf.addfile(tarinfo(path.name, path.stat().st_size), content)

    return write_atomically(dest, write)
