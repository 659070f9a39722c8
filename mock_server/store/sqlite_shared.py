"""What processes on one SQLite data dir count and hold together (migration steps 2 and 3): meta
counters and values made once, a job's row version, the real-training runner's leases, and the
controls (fault rules, behaviours, the journal) with their counters. Each write is one
statement, an upsert or an ``UPDATE ... RETURNING``, under the database's write lock (``BEGIN
IMMEDIATE``, ``connection.py``), so that two processes at once each get an answer of their own and
never the same one, where a read then a write would hand both the same: the second waits for the
first's lock and then starts from its row.

A part of ``SqliteStore`` (``sqlite.py``), kept apart as the records the simulator keeps for
itself rather than for the API's callers; PostgreSQL's are ``pg_shared.py``'s, in the same SQL.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from mock_server.store.base import Control, Counter
from mock_server.store.connection import Connection
from mock_server.store.migrations import SCHEMA_VERSION_KEY
from mock_server.store.rows import RowReader, document

__all__ = ["SharedRecords"]

_COUNTERS: dict[Counter, str] = {"seen": "seen", "fired": "fired"}


class SharedRecords:
    """Mixed into ``SqliteStore``: its connection, raw database and row reader are these
    methods'."""

    _conn: Connection
    _db: sqlite3.Connection
    _read: RowReader

    def transaction(self) -> AbstractContextManager[None]:
        return self._conn.transaction()

    # -- meta -------------------------------------------------------------------------------------

    def increment_meta(self, key: str, by: int = 1) -> int:
        if key == SCHEMA_VERSION_KEY:
            raise ValueError(f"meta key {key!r} is the migrations' own")
        with self.transaction():
            (value,) = self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                "SET value = CAST(CAST(meta.value AS BIGINT) + ? AS TEXT) RETURNING value",
                (key, str(by), by),
            ).fetchone()
        return int(value)

    def put_meta_once(self, key: str, value: str) -> str:
        if key == SCHEMA_VERSION_KEY:
            raise ValueError(f"meta key {key!r} is the migrations' own")
        with self.transaction():
            (kept,) = self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                "SET value = meta.value RETURNING value",
                (key, value),
            ).fetchone()
        return str(kept)

    # -- jobs: row versions and the runner's leases (migration step 3) ---------------------------

    def claim_job_lease(self, job_id: str, owner: str, *, now: float, ttl: float) -> bool:
        # One upsert: the row is written only where it is new, ours or expired, and RETURNING
        # says whether it was; BEGIN IMMEDIATE makes a second process's claim wait for this one.
        with self.transaction():
            rows = self._db.execute(
                "INSERT INTO job_leases (job_id, owner, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at "
                "WHERE job_leases.owner = excluded.owner OR job_leases.expires_at <= ? "
                "RETURNING owner",
                (job_id, owner, now + ttl, now),
            ).fetchall()
        return bool(rows)

    def release_job_lease(self, job_id: str, owner: str) -> None:
        self._conn.write("DELETE FROM job_leases WHERE job_id = ? AND owner = ?", job_id, owner)

    def job_version(self, job_id: str) -> int | None:
        rows = self._conn.rows("SELECT version FROM jobs WHERE id = ?", job_id)
        return int(rows[0][0]) if rows else None

    # -- controls (migration step 2) -------------------------------------------------------------

    def put_control(self, kind: str, id_: str, doc: dict[str, Any]) -> int:
        with self.transaction():
            seq = self.increment_meta("controls_seq")
            (kept,) = self._db.execute(
                "INSERT INTO controls (kind, id, seq, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc, seen = 0, fired = 0 "
                "RETURNING seq",
                (kind, id_, seq, json.dumps(doc, separators=(",", ":"), allow_nan=False)),
            ).fetchone()
        return int(kept)

    def list_controls(self, kind: str) -> list[Control]:
        rows = self._conn.rows(
            "SELECT id, seq, doc, seen, fired FROM controls WHERE kind = ? ORDER BY seq", kind
        )
        controls = []
        for id_, seq, doc, seen, fired in rows:
            for body in self._read.each("controls", [(f"{kind}:{id_}", doc)], document):
                controls.append(Control(id_, int(seq), body, int(seen), int(fired)))
        return controls

    def count_control(self, kind: str, id_: str, counter: Counter) -> int | None:
        column = _COUNTERS[counter]  # a column name from a fixed set, never the caller's text
        with self.transaction():
            row = self._db.execute(
                f"UPDATE controls SET {column} = {column} + 1 WHERE kind = ? AND id = ? "
                f"RETURNING {column}",
                (kind, id_),
            ).fetchone()
        return None if row is None else int(row[0])

    def delete_controls(self, kind: str, id_: str | None = None) -> int:
        if id_ is None:
            return self._conn.write("DELETE FROM controls WHERE kind = ?", kind)
        return self._conn.write("DELETE FROM controls WHERE kind = ? AND id = ?", kind, id_)

    def trim_controls(self, kind: str, keep: int) -> int:
        return self._conn.write(
            "DELETE FROM controls WHERE kind = ? AND seq <= (SELECT seq FROM controls "
            "WHERE kind = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            kind,
            kind,
            keep,
        )
