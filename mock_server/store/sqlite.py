"""The SQLite store: one file under the data dir, surviving restarts and ``kill -9``.

Records are kept as JSON documents beside the columns that are queried (tenant, ids, times), so
the schema does not have to chase every field of the API. The connection, its locking and its
transactions are ``connection.py``'s; the schema is versioned and brought up to date on open by
the numbered steps of ``migrations.py``; a row that does not load is handled as ``rows.py`` says;
the jobs and their history are ``sqlite_jobs.py``'s, and the records processes on the data dir
count and hold together (meta counters, leases, controls) ``sqlite_shared.py``'s.
Records only: bytes (files' bodies, upload parts, real jobs' outputs) are a ``BlobStore``'s
(``blobs.py``), which app.py roots in the same data dir.
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
from mock_server.store.connection import Connection
from mock_server.store.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION_KEY,
    Migrated,
    Migration,
    migrate,
)
from mock_server.store.rows import RowReader, document
from mock_server.store.sqlite_jobs import JobRecords
from mock_server.store.sqlite_shared import SharedRecords

__all__ = ["SqliteStore"]

log = logging.getLogger("together_sim.store")


class SqliteStore(JobRecords, SharedRecords):
    def __init__(
        self,
        data_dir: Path,
        *,
        db_path: Path | None = None,
        steps: Sequence[Migration] = MIGRATIONS,
        busy_wait: float = 1.0,
    ) -> None:
        """``steps`` are the migrations to bring the database to: every one this code knows,
        unless a test plays a newer version. Raises ``SchemaError`` (one line) for a data dir
        this code cannot use, such as one a newer together-sim wrote. ``busy_wait``: how long a
        write waits for another process's lock on the database before it is a 503
        (``Connection``)."""
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._path = db_path or data_dir / "together-sim.sqlite3"
        self._read = RowReader(str(self._path))
        self._conn = Connection(self._path, busy_wait=busy_wait)
        self._db = self._conn.db
        try:
            self.migrated: Migrated = migrate(self._conn, where=str(self._path), steps=steps)
        except BaseException:
            self._conn.close()
            raise
        if self.migrated.applied:
            how = "adopted the unversioned layout" if self.migrated.adopted else "migrated"
            log.info(
                "%s: %s, schema version %s -> %d (steps %s)",
                self._path,
                how,
                self.migrated.found,
                self.migrated.version,
                ", ".join(map(str, self.migrated.applied)),
            )

    def close(self) -> None:
        self._conn.close()

    # -- meta -------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._conn.rows("SELECT value FROM meta WHERE key = ?", key)
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        if key == SCHEMA_VERSION_KEY:
            raise ValueError(f"meta key {key!r} is the migrations' own")
        self._conn.write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value)

    # -- files ------------------------------------------------------------------------------------

    def put_file(self, record: FileRecord) -> None:
        self._conn.write(
            "INSERT OR REPLACE INTO files (id, tenant, created_at, doc) VALUES (?, ?, ?, ?)",
            record.id,
            record.tenant,
            iso(record.created_at),
            record.model_dump_json(),
        )

    def get_file(self, tenant: str, file_id: str) -> FileRecord:
        rows = self._conn.rows("SELECT doc FROM files WHERE id = ? AND tenant = ?", file_id, tenant)
        if not rows:
            raise NotFound("file", file_id, message=f"File {file_id} not found", param="id")
        return self._read.one("File", file_id, rows[0][0], FileRecord.model_validate_json)

    def list_files(self, tenant: str) -> list[FileRecord]:
        rows = self._conn.rows(
            "SELECT id, doc FROM files WHERE tenant = ? ORDER BY created_at, id", tenant
        )
        return list(self._read.each("files", rows, FileRecord.model_validate_json))

    def delete_file(self, tenant: str, file_id: str) -> FileRecord:
        with self.transaction():
            record = self.get_file(tenant, file_id)
            self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        return record

    def put_upload(self, session: UploadSession) -> None:
        self._conn.write(
            "INSERT OR REPLACE INTO uploads (file_id, doc) VALUES (?, ?)",
            session.file_id,
            session.model_dump_json(),
        )

    def get_upload(self, file_id: str) -> UploadSession:
        rows = self._conn.rows("SELECT doc FROM uploads WHERE file_id = ?", file_id)
        if not rows:
            raise NotFound("upload", file_id, message=f"No upload in progress for {file_id}")
        return UploadSession.model_validate_json(rows[0][0])

    def delete_upload(self, file_id: str) -> None:
        self._conn.write("DELETE FROM uploads WHERE file_id = ?", file_id)

    def list_upload_ids(self) -> list[str]:
        return [file_id for (file_id,) in self._conn.rows("SELECT file_id FROM uploads")]

    # -- tenants: whoever has files, jobs or resources ---------------------------------------------

    def list_tenants(self) -> list[str]:
        rows = self._conn.rows(
            "SELECT tenant FROM (SELECT tenant, created_at FROM files "
            "UNION ALL SELECT tenant, created_at FROM jobs "
            "UNION ALL SELECT tenant, created_at FROM resources) "
            "GROUP BY tenant ORDER BY MAX(created_at) DESC, tenant"
        )
        return [tenant for (tenant,) in rows]

    # -- resources: one table for every kind of record that needs no query of its own -----------

    def put_resource(
        self, kind: str, tenant: str, id_: str, body: dict[str, Any], created_at: datetime
    ) -> None:
        self._conn.write(
            "INSERT OR REPLACE INTO resources (kind, id, tenant, created_at, doc) "
            "VALUES (?, ?, ?, ?, ?)",
            kind,
            id_,
            tenant,
            iso(created_at),
            json.dumps(body, separators=(",", ":"), allow_nan=False),  # NaN is no JSON
        )

    def get_resource(self, kind: str, tenant: str, id_: str) -> dict[str, Any]:
        rows = self._conn.rows(
            "SELECT doc FROM resources WHERE kind = ? AND id = ? AND tenant = ?", kind, id_, tenant
        )
        if not rows:
            raise NotFound(kind, id_, message=f"{kind.capitalize()} {id_} not found", param="id")
        return self._read.one(kind.capitalize(), id_, rows[0][0], document)

    def list_resources(self, kind: str, tenant: str) -> list[dict[str, Any]]:
        rows = self._conn.rows(
            "SELECT kind || ':' || id, doc FROM resources WHERE kind = ? AND tenant = ? "
            "ORDER BY created_at, id",
            kind,
            tenant,
        )
        return list(self._read.each("resources", rows, document))

    def delete_resource(self, kind: str, tenant: str, id_: str) -> dict[str, Any]:
        with self.transaction():
            body = self.get_resource(kind, tenant, id_)
            self._db.execute(
                "DELETE FROM resources WHERE kind = ? AND tenant = ? AND id = ?",
                (kind, tenant, id_),
            )
        return body

    # -- reset ------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.transaction():
            tables = (
                *("files", "uploads", "jobs", "events", "checkpoints", "metrics", "resources"),
                "job_leases",
            )
            for table in tables:
                self._db.execute(f"DELETE FROM {table}")
