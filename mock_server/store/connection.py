"""The SQLite store's connections. WAL mode and ``synchronous=NORMAL`` keep writes cheap while
a crash loses nothing that was committed. Every write goes through one connection behind a
re-entrant lock: a single writer is what SQLite wants. It is also what the migrations runner works
through (``migrations.Database``), so the schema steps run in the same transactions as the rest.

Reads outside a transaction take a connection of their own thread's instead: WAL lets readers
run beside the writer, and SQLite lets go of the GIL while it steps, so the worker threads that
answer polls and lists (``core/offload.py``) neither queue behind one lock nor behind a write.
Each such read starts a fresh snapshot, so it sees every transaction committed before it began;
a read inside a transaction uses the writer's connection, and so sees that transaction's own
changes.

Another process may hold the database's write lock (a second simulator on the data dir, an
``sqlite3`` shell left in a transaction). A transaction then waits for it up to ``busy_wait``
seconds, a few milliseconds at a time with the thread lock let go in between, so this process's
reads (which WAL lets through) and its other requests go on meanwhile; after that the request is
a 503 with ``retry-after``, which both SDKs retry, never a 500. Any other "database is locked"
(a read SQLite could not start) is the same 503.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from mock_server.core.errors import ServiceUnavailable, is_busy
from mock_server.core.offload import WouldBlock, must_not_wait
from mock_server.store.migrations import SCHEMA_VERSION_KEY

__all__ = ["Connection"]

# How long SQLite itself waits for a lock on each try, holding the thread lock: short, so a
# writer waiting on another process holds up this process's reads by no more than this.
_TRY_MS = 20
# The pause between two tries of a write transaction, growing to its cap.
_PAUSE, _PAUSE_CAP = 0.002, 0.05


def _busy(exc: sqlite3.Error) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The simulator's database is locked by another process ({exc}). Nothing was changed: "
        "send the request again."
    )


class Connection:
    def __init__(self, path: Path, *, busy_wait: float = 1.0) -> None:
        """``busy_wait``: how long a write waits for another process's lock before its 503.
        Writes here take milliseconds, so a lock held longer than this is someone's open
        transaction, not contention, and the client is better told to come back."""
        self._path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._writing: int | None = None  # the thread in a transaction, while there is one
        self._local = threading.local()  # each thread's read connection
        self._readers: list[sqlite3.Connection] = []  # all of them, to close them
        self._readers_lock = threading.Lock()
        self._closed = False
        self.busy_wait = busy_wait
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self.db.execute(f"PRAGMA busy_timeout={_TRY_MS}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            self.db.close()
            raise

    def _reader(self) -> sqlite3.Connection:
        reader: sqlite3.Connection | None = getattr(self._local, "db", None)
        if reader is None:
            with self._readers_lock:
                if self._closed:
                    raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
                reader = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
                reader.execute(f"PRAGMA busy_timeout={_TRY_MS}")
                self._readers.append(reader)
            self._local.db = reader
        return reader

    def _begin(self) -> bool:
        """Hold the thread lock and, for the outermost transaction, SQLite's write lock; True if
        this is the outermost. Between tries the thread lock is let go, so a lock another process
        holds keeps only the writers of this one waiting."""
        if must_not_wait():
            return self._begin_now()
        deadline = time.monotonic() + self.busy_wait
        pause = _PAUSE
        while True:
            self._lock.acquire()
            if self._depth > 0:  # ours already: a transaction nested in this thread's own
                return False
            try:
                self.db.execute("BEGIN IMMEDIATE")
                self._writing = threading.get_ident()
                return True
            except sqlite3.Error as exc:
                self._lock.release()
                left = deadline - time.monotonic()
                if not is_busy(exc):
                    raise
                if left <= 0:
                    raise _busy(exc) from exc
            time.sleep(min(pause, left))
            pause = min(pause * 2, _PAUSE_CAP)

    def _begin_now(self) -> bool:
        """``_begin`` on the event loop: ``WouldBlock`` rather than a wait, for the thread lock
        (a worker's transaction) or SQLite's (another process's); see ``core/offload.py``."""
        if not self._lock.acquire(blocking=False):
            raise WouldBlock
        if self._depth > 0:
            return False
        try:
            self.db.execute("PRAGMA busy_timeout=0")
            try:
                self.db.execute("BEGIN IMMEDIATE")
            finally:
                self.db.execute(f"PRAGMA busy_timeout={_TRY_MS}")
        except sqlite3.Error as exc:
            self._lock.release()
            if is_busy(exc):
                raise WouldBlock from exc
            raise
        except BaseException:
            self._lock.release()
            raise
        self._writing = threading.get_ident()
        return True

    @contextmanager
    def transaction(self) -> Iterator[None]:
        outermost = self._begin()
        try:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            if outermost:
                self.db.execute("COMMIT")
        except BaseException as exc:
            if outermost and self.db.in_transaction:
                with suppress(sqlite3.Error):  # what failed is what the caller hears of
                    self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and is_busy(exc):
                raise _busy(exc) from exc
            raise
        finally:
            if outermost:
                self._writing = None
            self._lock.release()

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        try:
            if self._writing == threading.get_ident():  # inside this thread's transaction
                with self._lock:
                    return self.db.execute(sql, args).fetchall()
            return self._reader().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            if is_busy(exc):
                if must_not_wait():
                    raise WouldBlock from exc
                raise _busy(exc) from exc
            raise

    def write(self, sql: str, *args: Any) -> int:
        with self.transaction():
            return self.db.execute(sql, args).rowcount

    def close(self) -> None:
        with self._lock, self._readers_lock:
            self._closed = True
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self.db.close()

    # -- what the migrations runner needs (migrations.Database) ----------------------------------

    def has_table(self, name: str) -> bool:
        found = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    def execute(self, statement: str) -> None:
        self.db.execute(statement)

    def read_version(self) -> str | None:
        row = self.db.execute(
            "SELECT value FROM meta WHERE key = ?", (SCHEMA_VERSION_KEY,)
        ).fetchone()
        return None if row is None else str(row[0])

    def write_version(self, value: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (SCHEMA_VERSION_KEY, value)
        )
