"""The PostgreSQL store: the records of every replica of a shared simulator in one database.

The same tables as SQLite's (the numbered steps of ``migrations.py``, run at startup under an
advisory lock), the same JSON documents beside the queried columns, and the same behaviour,
method for method, as ``SqliteStore``: a missing record raises ``NotFound``, a row that does not
load is left out of lists and a 409 alone (``rows.py``), ``reset`` keeps ``meta``. The connection
pool, transactions and the 503s are ``pg_connection.py``'s; the jobs and their history,
``pg_jobs.py``'s; the records replicas count and hold together (meta counters, leases, controls),
``pg_shared.py``'s.

Transactions take turns across every replica, as SQLite's single writer makes them (an advisory
lock, ``pg_connection.py``): the services' read-modify-writes inside ``transaction()`` rely on
it. The store's own read-then-update paths do not need it: a delete is one ``DELETE ...
RETURNING``, and the jobs' paths lock the job's row (``pg_jobs.py``). Where SQLite's SQL has no
PostgreSQL spelling, here and in ``pg_jobs.py``: ``INSERT OR REPLACE`` is ``INSERT ... ON
CONFLICT DO UPDATE``; ``COLLATE NOCASE`` is ``lower()`` in the C collation (ASCII only, as
NOCASE); ordering is in the C collation (bytes, as SQLite's), whatever the database's locale. And
PostgreSQL's text holds no NUL where SQLite's does: a key with one is found nowhere (a 404, as
for a key never stored) and a record named with one is refused (``pg_connection.py``).

``data_dir`` stays a local folder, one per replica: built artifacts and (with the local blob
store) file bytes live there; the tenant secret of a shared deployment is in ``meta``
(``core/tenancy.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.timefmt import iso
from mock_server.files.models import FileRecord, UploadSession
from mock_server.store.migrations import MIGRATIONS, SCHEMA_VERSION_KEY, Migrated, Migration
from mock_server.store.pg_connection import DatabaseUnreachable, PgConnection
from mock_server.store.pg_jobs import JobRecords
from mock_server.store.pg_shared import SharedRecords
from mock_server.store.rows import RowReader, document

__all__ = ["DatabaseUnreachable", "PostgresStore"]

log = logging.getLogger("together_sim.store")

# What ``reset`` empties: every record but meta and the controls (their owners reset those).
_TABLES = (
    *("files", "uploads", "jobs", "events", "checkpoints", "metrics", "resources"),
    "job_leases",
)


class PostgresStore(JobRecords, SharedRecords):
    def __init__(
        self,
        url: str,
        data_dir: Path,
        *,
        steps: Sequence[Migration] = MIGRATIONS,
        busy_wait: float = 1.0,
        pool_size: int = 10,
        pool_wait: float = 5.0,
    ) -> None:
        """``url``: ``postgresql://user:password@host:port/database``. ``steps``: the migrations
        to bring the database to (a test may play a newer version). Raises
        ``DatabaseUnreachable`` for a bad URL or no server, ``SchemaError`` for a database this
        code cannot use. ``busy_wait``, ``pool_size``, ``pool_wait``: see ``PgConnection``."""
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._conn = PgConnection(
            url, steps=steps, busy_wait=busy_wait, pool_size=pool_size, pool_wait=pool_wait
        )
        self.where = self._conn.where
        self._read = RowReader(self.where)
        self.migrated: Migrated = self._conn.migrated
        if self.migrated.applied:
            log.info(
                "%s: migrated, schema version %s -> %d (steps %s)",
                self.where,
                self.migrated.found,
                self.migrated.version,
                ", ".join(map(str, self.migrated.applied)),
            )

    def close(self) -> None:
        self._conn.close()

    # -- meta -------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._conn.rows("SELECT value FROM meta WHERE key = %s", key)
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        if key == SCHEMA_VERSION_KEY:
            raise ValueError(f"meta key {key!r} is the migrations' own")
        self._conn.write(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            key,
            value,
        )

    # -- files ------------------------------------------------------------------------------------

    def put_file(self, record: FileRecord) -> None:
        self._conn.write(
            "INSERT INTO files (id, tenant, created_at, doc) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET tenant = EXCLUDED.tenant, "
            "created_at = EXCLUDED.created_at, doc = EXCLUDED.doc",
            record.id,
            record.tenant,
            iso(record.created_at),
            record.model_dump_json(),
        )

    def _file_not_found(self, file_id: str) -> NotFound:
        return NotFound("file", file_id, message=f"File {file_id} not found", param="id")

    def get_file(self, tenant: str, file_id: str) -> FileRecord:
        rows = self._conn.rows(
            "SELECT doc FROM files WHERE id = %s AND tenant = %s", file_id, tenant
        )
        if not rows:
            raise self._file_not_found(file_id)
        return self._read.one("File", file_id, rows[0][0], FileRecord.model_validate_json)

    def list_files(self, tenant: str) -> list[FileRecord]:
        rows = self._conn.rows(
            'SELECT id, doc FROM files WHERE tenant = %s ORDER BY created_at COLLATE "C", '
            'id COLLATE "C"',
            tenant,
        )
        return list(self._read.each("files", rows, FileRecord.model_validate_json))

    def delete_file(self, tenant: str, file_id: str) -> FileRecord:
        # One statement, so two replicas deleting the same file cannot both get it back; a
        # record that does not load raises here and the delete rolls back, as SQLite's does.
        with self.transaction():
            rows = self._conn.rows(
                "DELETE FROM files WHERE id = %s AND tenant = %s RETURNING doc", file_id, tenant
            )
            if not rows:
                raise self._file_not_found(file_id)
            return self._read.one("File", file_id, rows[0][0], FileRecord.model_validate_json)

    def put_upload(self, session: UploadSession) -> None:
        self._conn.write(
            "INSERT INTO uploads (file_id, doc) VALUES (%s, %s) "
            "ON CONFLICT (file_id) DO UPDATE SET doc = EXCLUDED.doc",
            session.file_id,
            session.model_dump_json(),
        )

    def get_upload(self, file_id: str) -> UploadSession:
        rows = self._conn.rows("SELECT doc FROM uploads WHERE file_id = %s", file_id)
        if not rows:
            raise NotFound("upload", file_id, message=f"No upload in progress for {file_id}")
        return UploadSession.model_validate_json(rows[0][0])

    def delete_upload(self, file_id: str) -> None:
        self._conn.write("DELETE FROM uploads WHERE file_id = %s", file_id)

    def list_upload_ids(self) -> list[str]:
        return [file_id for (file_id,) in self._conn.rows("SELECT file_id FROM uploads")]

    # -- tenants: whoever has files, jobs or resources ---------------------------------------------

    def list_tenants(self) -> list[str]:
        rows = self._conn.rows(
            "SELECT tenant FROM (SELECT tenant, created_at FROM files "
            "UNION ALL SELECT tenant, created_at FROM jobs "
            "UNION ALL SELECT tenant, created_at FROM resources) AS activity "
            'GROUP BY tenant ORDER BY MAX(created_at COLLATE "C") DESC, tenant COLLATE "C"'
        )
        return [tenant for (tenant,) in rows]

    # -- resources --------------------------------------------------------------------------------

    def put_resource(
        self, kind: str, tenant: str, id_: str, body: dict[str, Any], created_at: datetime
    ) -> None:
        self._conn.write(
            "INSERT INTO resources (kind, id, tenant, created_at, doc) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind, tenant, id) "
            "DO UPDATE SET created_at = EXCLUDED.created_at, doc = EXCLUDED.doc",
            kind,
            id_,
            tenant,
            iso(created_at),
            json.dumps(body, separators=(",", ":"), allow_nan=False),  # NaN is no JSON
        )

    def _resource_not_found(self, kind: str, id_: str) -> NotFound:
        return NotFound(kind, id_, message=f"{kind.capitalize()} {id_} not found", param="id")

    def get_resource(self, kind: str, tenant: str, id_: str) -> dict[str, Any]:
        rows = self._conn.rows(
            "SELECT doc FROM resources WHERE kind = %s AND id = %s AND tenant = %s",
            kind,
            id_,
            tenant,
        )
        if not rows:
            raise self._resource_not_found(kind, id_)
        return self._read.one(kind.capitalize(), id_, rows[0][0], document)

    def list_resources(self, kind: str, tenant: str) -> list[dict[str, Any]]:
        rows = self._conn.rows(
            "SELECT kind || ':' || id, doc FROM resources WHERE kind = %s AND tenant = %s "
            'ORDER BY created_at COLLATE "C", id COLLATE "C"',
            kind,
            tenant,
        )
        return list(self._read.each("resources", rows, document))

    def delete_resource(self, kind: str, tenant: str, id_: str) -> dict[str, Any]:
        with self.transaction():
            rows = self._conn.rows(
                "DELETE FROM resources WHERE kind = %s AND tenant = %s AND id = %s RETURNING doc",
                kind,
                tenant,
                id_,
            )
            if not rows:
                raise self._resource_not_found(kind, id_)
            return self._read.one(kind.capitalize(), id_, rows[0][0], document)

    # -- reset ------------------------------------------------------------------------------------

    def reset(self) -> None:
        # DELETE, not TRUNCATE: TRUNCATE takes every table's exclusive lock, which would stall
        # each replica's reads until the reset commits.
        with self.transaction():
            for table in _TABLES:
                self._conn.write(f"DELETE FROM {table}")
