"""The SQLite store's one connection. WAL mode and ``synchronous=NORMAL`` keep writes cheap while
a crash loses nothing that was committed. All threads share it behind a re-entrant lock: requests
are short, and a single writer is what SQLite wants. It is also what the migrations runner works
through (``migrations.Database``), so the schema steps run in the same transactions as the rest."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mock_server.store.migrations import SCHEMA_VERSION_KEY

__all__ = ["Connection"]


class Connection:
    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
        except BaseException:
            self.db.close()
            raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self.db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outermost:
                    self.db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self.db.execute("COMMIT")

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def write(self, sql: str, *args: Any) -> int:
        with self.transaction():
            return self.db.execute(sql, args).rowcount

    def close(self) -> None:
        with self._lock:
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
