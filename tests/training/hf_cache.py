"""A Hugging Face cache laid out as ``hf download`` leaves it, for tests that must find a model
by repo id without a network: content-addressed blobs, a snapshot folder of symlinks per commit,
and ``refs/<branch>`` holding the commit (lora-and-semantics §2.4)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

__all__ = ["cache_repo"]


def cache_repo(cache: Path, repo: str, files: Path, *, commit: str = "c0ffee" * 6 + "c0fe") -> Path:
    """Put the files of folder ``files`` into ``cache`` as ``repo`` at ``commit`` (main's head);
    returns the snapshot folder."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (root / "blobs").mkdir(exist_ok=True)
    for file in sorted(files.iterdir()):
        blob = root / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return snapshot
