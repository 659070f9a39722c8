"""What replicas on one PostgreSQL database count and hold together (migration steps 2 and 3):
meta counters and values made once, a job's row version, the real-training runner's leases, and
the controls (fault rules, behaviours, the journal) with their counters. Each is one statement, an
upsert or an ``UPDATE ... RETURNING``, so that two replicas at once each get an answer of their
own and never the same one, where a read then a write would hand both the same: the row lock the
statement takes makes the second wait for the first's commit and then start from its row.

A part of ``PostgresStore`` (``postgres.py``), kept apart as the records the simulator keeps for
itself rather than for the API's callers; SQLite's are ``sqlite_shared.py``'s, in the same SQL.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

from mock_server.store.base import Control, Counter
from mock_server.store.migrations import SCHEMA_VERSION_KEY
from mock_server.store.pg_connection import PgConnection
from mock_server.store.rows import RowReader, document

__all__ = ["SharedRecords"]

_COUNTERS: dict[Counter, str] = {"seen": "seen", "fired": "fired"}


class SharedRecords:
    """Mixed into ``PostgresStore``: its connection and row reader are these methods'."""

    _conn: PgConnection
    _read: RowReader

    def transaction(self) -> AbstractContextManager[None]:
        return self._conn.transaction()

    # -- meta -------------------------------------------------------------------------------------

    def increment_meta(self, key: str, by: int = 1) -> int:
        if key == SCHEMA_VERSION_KEY:
            raise ValueError(f"meta key {key!r} is the migrations' own")
        [(value,)] = self._conn.rows(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
            "SET value = CAST(CAST(meta.value AS BIGINT) + %s AS TEXT) RETURNING value",
            key,
            str(by),
            by,
        )
        return int(value)

    def put_meta_once(self, key: str, value: str) -> str:
        if key == SCHEMA_VERSION_KEY:
            raise ValueError(f"meta key {key!r} is the migrations' own")
        # DO UPDATE to itself rather than DO NOTHING, which would return no row to read.
        [(kept,)] = self._conn.rows(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
            "SET value = meta.value RETURNING value",
            key,
            value,
        )
        return str(kept)

    # -- jobs: row versions and the runner's leases (migration step 3) ---------------------------

    def claim_job_lease(self, job_id: str, owner: str, *, now: float, ttl: float) -> bool:
        # One upsert: a claim racing this one waits on the row, then finds it taken (the WHERE
        # is checked against the row as the other left it) and returns no row.
        rows = self._conn.rows(
            "INSERT INTO job_leases (job_id, owner, expires_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (job_id) DO UPDATE SET owner = EXCLUDED.owner, "
            "expires_at = EXCLUDED.expires_at "
            "WHERE job_leases.owner = EXCLUDED.owner OR job_leases.expires_at <= %s "
            "RETURNING owner",
            job_id,
            owner,
            now + ttl,
            now,
        )
        return bool(rows)

    def release_job_lease(self, job_id: str, owner: str) -> None:
        self._conn.write("DELETE FROM job_leases WHERE job_id = %s AND owner = %s", job_id, owner)

    def job_version(self, job_id: str) -> int | None:
        rows = self._conn.rows("SELECT version FROM jobs WHERE id = %s", job_id)
        return int(rows[0][0]) if rows else None

    # -- controls (migration step 2) -------------------------------------------------------------

    def put_control(self, kind: str, id_: str, doc: dict[str, Any]) -> int:
        with self.transaction():
            seq = self.increment_meta("controls_seq")
            [(kept,)] = self._conn.rows(
                "INSERT INTO controls (kind, id, seq, doc) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (kind, id) DO UPDATE SET doc = EXCLUDED.doc, seen = 0, fired = 0 "
                "RETURNING seq",
                kind,
                id_,
                seq,
                json.dumps(doc, separators=(",", ":"), allow_nan=False),
            )
        return int(kept)

    def list_controls(self, kind: str) -> list[Control]:
        rows = self._conn.rows(
            "SELECT id, seq, doc, seen, fired FROM controls WHERE kind = %s ORDER BY seq", kind
        )
        controls = []
        for id_, seq, doc, seen, fired in rows:
            for body in self._read.each("controls", [(f"{kind}:{id_}", doc)], document):
                controls.append(Control(id_, int(seq), body, int(seen), int(fired)))
        return controls

    def count_control(self, kind: str, id_: str, counter: Counter) -> int | None:
        column = _COUNTERS[counter]  # a column name from a fixed set, never the caller's text
        rows = self._conn.rows(
            f"UPDATE controls SET {column} = {column} + 1 WHERE kind = %s AND id = %s "
            f"RETURNING {column}",
            kind,
            id_,
        )
        return int(rows[0][0]) if rows else None

    def delete_controls(self, kind: str, id_: str | None = None) -> int:
        if id_ is None:
            return self._conn.write("DELETE FROM controls WHERE kind = %s", kind)
        return self._conn.write("DELETE FROM controls WHERE kind = %s AND id = %s", kind, id_)

    def trim_controls(self, kind: str, keep: int) -> int:
        return self._conn.write(
            "DELETE FROM controls WHERE kind = %s AND seq <= (SELECT seq FROM controls "
            "WHERE kind = %s ORDER BY seq DESC LIMIT 1 OFFSET %s)",
            kind,
            kind,
            keep,
        )
