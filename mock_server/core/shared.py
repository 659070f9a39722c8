"""Keeping the controls' state of replicas that share one database coherent.

The controls' state (the clock's offset, fault rules, behaviours) is read on every request, so
each process keeps a copy in memory; when other processes serve from the same database (several
``--workers`` on one SQLite file, or PostgreSQL: ``Settings.shared``), a change made through one
of them must be seen by the next request any of them answers. So every change is made in the
store, in a transaction that first adds one to the ``shared_version`` meta counter
(``Coherence.change``), and each request reads that counter once (one primary-key read,
``admin/coherence.py``'s middleware) and has every copy reloaded from the store when it moved.

Taking the counter first is also what orders the changes: the increment takes the database's
write lock on SQLite and the counter row's lock on PostgreSQL until the transaction ends, so a
second change waits for the first, and under PostgreSQL's default READ COMMITTED isolation the
reads it makes after the increment see everything the first committed. A change that reads
before writing (an advance checks the clock against its horizon, a new rule takes the next
free id) therefore reads inside ``change`` and never races another replica's.

A single process pays nothing of this: the app builds no ``Coherence`` for it, and its copies in
memory are the state, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["SHARED_VERSION", "Coherence", "SharedMeta"]

SHARED_VERSION = "shared_version"


class SharedMeta(Protocol):
    """What coherence needs of a store (``store.base.Store`` has it all)."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def get_meta(self, key: str) -> str | None: ...
    def increment_meta(self, key: str, by: int = 1) -> int: ...
    def put_meta_once(self, key: str, value: str) -> str: ...


class Coherence:
    def __init__(self, meta: SharedMeta) -> None:
        self.meta = meta
        # Read before any copy is loaded: a change between the two is then seen as a move.
        self._seen = meta.get_meta(SHARED_VERSION)
        self._reloads: list[Callable[[], None]] = []
        self._lock = threading.Lock()  # one reload at a time

    def on_change(self, reload: Callable[[], None]) -> None:
        """``reload`` brings one copy in memory back to what the store holds."""
        self._reloads.append(reload)

    @contextmanager
    def change(self) -> Iterator[None]:
        """One change to the shared state, made in the store inside the block; this process's
        copies are reloaded once it has committed, so the answer of the request that made it
        shows it (its peers reload on their next request)."""
        with self.meta.transaction():
            self.meta.increment_meta(SHARED_VERSION)
            yield
        self.reload()

    def moved(self) -> bool:
        """Whether another process changed the shared state since this one last loaded it."""
        return self.meta.get_meta(SHARED_VERSION) != self._seen

    def reload(self) -> None:
        with self._lock:
            # Taken before the copies are read: a change made meanwhile shows as a move again.
            version = self.meta.get_meta(SHARED_VERSION)
            for reload in self._reloads:
                reload()
            self._seen = version
