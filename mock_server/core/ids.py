"""Identifiers and other randomness, from one seeded source.

Like moto's ``MotoRandom``: with ``--seed N`` two runs that make the same calls get the same file
ids, job ids and output-name hashes, which keeps recorded test output stable. The per-job
randomness (loss curves, synthetic text) is derived from the job's own seed instead, so it does
not depend on the order in which requests arrive.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid

__all__ = ["IdSource", "stable_int"]


def stable_int(*parts: object) -> int:
    """A 64-bit integer from ``parts`` that is the same in every process (unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class IdSource:
    """Seeded ids. ``generation`` counts server starts over the same data dir (the store keeps
    it), so a restarted server with the same seed never hands out an id it issued before."""

    def __init__(self, seed: int | None = None, generation: int = 0) -> None:
        self._random = random.Random(None if seed is None else stable_int(seed, generation))
        self._lock = threading.Lock()

    def uuid(self) -> str:
        with self._lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def hex(self, n: int) -> str:
        with self._lock:
            return "".join(self._random.choice("0123456789abcdef") for _ in range(n))

    def file_id(self) -> str:
        return f"file-{self.uuid()}"

    def job_id(self) -> str:
        return f"ft-{self.uuid()}"
