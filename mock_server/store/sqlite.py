"""The SQLite store: one file under the data dir, surviving restarts and ``kill -9``.

Records are kept as JSON documents beside the columns that are queried (tenant, ids, times), so
the schema does not have to chase every field of the API. WAL mode and ``synchronous=NORMAL``
keep writes cheap while a crash loses nothing that was committed. One connection is shared by all
threads behind a re-entrant lock: requests are short, and a single writer is what SQLite wants.
The schema is versioned and brought up to date on open by the numbered steps of
``migrations.py``. Records only: bytes (files' bodies, upload parts, real jobs' outputs) are a
``BlobStore``'s (``blobs.py``), which app.py roots in the same data dir.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.timefmt import iso
from mock_server.files.models import FileRecord, UploadSession
from mock_server.fine_tuning.events import Checkpoint, Event, Metric
from mock_server.fine_tuning.models import LIVE, Job, Transition
from mock_server.store.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION_KEY,
    Migrated,
    Migration,
    migrate,
)

__all__ = ["SqliteStore"]

log = logging.getLogger("together_sim.store")


class SqliteStore:
    def __init__(
        self,
        data_dir: Path,
        *,
        db_path: Path | None = None,
        steps: Sequence[Migration] = MIGRATIONS,
    ) -> None:
        """``steps`` are the migrations to bring the database to: every one this code knows,
        unless a test plays a newer version. Raises ``SchemaError`` (one line) for a data dir
        this code cannot use, such as one a newer together-sim wrote."""
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._path = db_path or data_dir / "together-sim.sqlite3"
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self.migrated: Migrated = migrate(_Schema(self), where=str(self._path), steps=steps)
        except BaseException:
            self._db.close()
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

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self._db.execute("COMMIT")

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, *args: Any) -> int:
        with self.transaction():
            return self._db.execute(sql, args).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta -------------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", key)
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        if key == SCHEMA_VERSION_KEY:
            raise ValueError(f"meta key {key!r} is the migrations' own")
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value)

    # -- files ------------------------------------------------------------------------------------

    def put_file(self, record: FileRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO files (id, tenant, created_at, doc) VALUES (?, ?, ?, ?)",
            record.id,
            record.tenant,
            iso(record.created_at),
            record.model_dump_json(),
        )

    def get_file(self, tenant: str, file_id: str) -> FileRecord:
        rows = self._rows("SELECT doc FROM files WHERE id = ? AND tenant = ?", file_id, tenant)
        if not rows:
            raise NotFound("file", file_id, message=f"File {file_id} not found", param="id")
        return FileRecord.model_validate_json(rows[0][0])

    def list_files(self, tenant: str) -> list[FileRecord]:
        rows = self._rows("SELECT doc FROM files WHERE tenant = ? ORDER BY created_at, id", tenant)
        return [FileRecord.model_validate_json(doc) for (doc,) in rows]

    def delete_file(self, tenant: str, file_id: str) -> FileRecord:
        with self.transaction():
            record = self.get_file(tenant, file_id)
            self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        return record

    def put_upload(self, session: UploadSession) -> None:
        self._write(
            "INSERT OR REPLACE INTO uploads (file_id, doc) VALUES (?, ?)",
            session.file_id,
            session.model_dump_json(),
        )

    def get_upload(self, file_id: str) -> UploadSession:
        rows = self._rows("SELECT doc FROM uploads WHERE file_id = ?", file_id)
        if not rows:
            raise NotFound("upload", file_id, message=f"No upload in progress for {file_id}")
        return UploadSession.model_validate_json(rows[0][0])

    def delete_upload(self, file_id: str) -> None:
        self._write("DELETE FROM uploads WHERE file_id = ?", file_id)

    def list_upload_ids(self) -> list[str]:
        return [file_id for (file_id,) in self._rows("SELECT file_id FROM uploads")]

    # -- jobs -------------------------------------------------------------------------------------

    def _job_row(self, job: Job) -> tuple[Any, ...]:
        return (
            job.id,
            job.tenant,
            iso(job.created_at),
            job.model_output_name,
            job.status.value,
            job.model_dump_json(),
        )

    def create_job(self, job: Job, events: list[Event]) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO jobs (id, tenant, created_at, output_name, status, doc) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                self._job_row(job),
            )
            self._append(job.id, events, [], [])

    def get_job(self, tenant: str, job_id: str) -> Job:
        rows = self._rows("SELECT doc FROM jobs WHERE id = ? AND tenant = ?", job_id, tenant)
        if not rows:
            raise NotFound(
                "fine-tune job", job_id, message=f"Fine-tune job {job_id} not found", param="id"
            )
        return Job.model_validate_json(rows[0][0])

    def find_job_anywhere(self, job_id: str) -> Job:
        rows = self._rows("SELECT doc FROM jobs WHERE id = ?", job_id)
        if not rows:
            raise NotFound("fine-tune job", job_id, message=f"Fine-tune job {job_id} not found")
        return Job.model_validate_json(rows[0][0])

    def find_job_by_output_name(self, tenant: str, name: str) -> Job:
        rows = self._rows(
            "SELECT doc FROM jobs WHERE tenant = ? AND output_name = ? COLLATE NOCASE", tenant, name
        )
        if not rows:
            raise NotFound("model", name, message=f"No fine-tuned model named {name}")
        return Job.model_validate_json(rows[0][0])

    def list_jobs(self, tenant: str) -> list[Job]:
        rows = self._rows("SELECT doc FROM jobs WHERE tenant = ? ORDER BY created_at, id", tenant)
        return [Job.model_validate_json(doc) for (doc,) in rows]

    def iter_live_jobs(self, *, trainer: str | None = None) -> Iterator[Job]:
        marks = ",".join("?" * len(LIVE))
        sql = f"SELECT doc FROM jobs WHERE status IN ({marks})"
        args: list[str] = [status.value for status in sorted(LIVE)]
        if trainer is not None:
            sql, args = sql + " AND json_extract(doc, '$.trainer') = ?", [*args, trainer]
        for (doc,) in self._rows(sql, *args):
            yield Job.model_validate_json(doc)

    def has_live_jobs(self, *, trainer: str) -> bool:
        marks = ",".join("?" * len(LIVE))
        rows = self._rows(
            f"SELECT 1 FROM jobs WHERE status IN ({marks}) "
            "AND json_extract(doc, '$.trainer') = ? LIMIT 1",
            *sorted(LIVE),
            trainer,
        )
        return bool(rows)

    def list_tenants(self) -> list[str]:
        rows = self._rows(
            "SELECT tenant FROM (SELECT tenant, created_at FROM files "
            "UNION ALL SELECT tenant, created_at FROM jobs "
            "UNION ALL SELECT tenant, created_at FROM resources) "
            "GROUP BY tenant ORDER BY MAX(created_at) DESC, tenant"
        )
        return [tenant for (tenant,) in rows]

    def _append(
        self, job_id: str, events: list[Event], checkpoints: list[Checkpoint], metrics: list[Metric]
    ) -> None:
        db = self._db
        if events:
            (seq,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id = ?", (job_id,)
            ).fetchone()
            db.executemany(
                "INSERT INTO events (job_id, seq, doc) VALUES (?, ?, ?)",
                [(job_id, seq + i + 1, e.model_dump_json()) for i, e in enumerate(events)],
            )
        if checkpoints:
            (seq,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM checkpoints WHERE job_id = ?", (job_id,)
            ).fetchone()
            db.executemany(
                "INSERT INTO checkpoints (job_id, seq, doc) VALUES (?, ?, ?)",
                [(job_id, seq + i + 1, c.model_dump_json()) for i, c in enumerate(checkpoints)],
            )
        if metrics:
            db.executemany(
                "INSERT OR REPLACE INTO metrics (job_id, step, logged_at, doc) VALUES (?, ?, ?, ?)",
                [(job_id, m.step, iso(m.logged_at), m.model_dump_json()) for m in metrics],
            )

    def save_transition(self, transition: Transition) -> None:
        job = transition.job
        with self.transaction():
            self._db.execute(
                "UPDATE jobs SET status = ?, doc = ? WHERE id = ?",
                (job.status.value, job.model_dump_json(), job.id),
            )
            self._append(job.id, transition.events, transition.checkpoints, transition.metrics)

    def update_job(self, tenant: str, job_id: str, move: Callable[[Job], Transition]) -> Job:
        with self.transaction():
            before = self.get_job(tenant, job_id)
            transition = move(before)
            if transition.job != before or transition.events:
                self.save_transition(transition)
            return transition.job

    def delete_job(self, tenant: str, job_id: str) -> None:
        with self.transaction():
            self.get_job(tenant, job_id)
            for table in ("jobs",):
                self._db.execute(f"DELETE FROM {table} WHERE id = ?", (job_id,))
            for table in ("events", "checkpoints", "metrics"):
                self._db.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))

    def list_events(self, job_id: str) -> list[Event]:
        rows = self._rows("SELECT doc FROM events WHERE job_id = ? ORDER BY seq", job_id)
        return [Event.model_validate_json(doc) for (doc,) in rows]

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        rows = self._rows("SELECT doc FROM checkpoints WHERE job_id = ? ORDER BY seq", job_id)
        return [Checkpoint.model_validate_json(doc) for (doc,) in rows]

    def list_metrics(
        self,
        job_id: str,
        *,
        step_from: int | None = None,
        step_to: int | None = None,
        logged_from: datetime | None = None,
        logged_to: datetime | None = None,
    ) -> list[Metric]:
        sql = "SELECT doc FROM metrics WHERE job_id = ?"
        args: list[Any] = [job_id]
        for clause, value in (
            ("step >= ?", step_from),
            ("step <= ?", step_to),
            ("logged_at >= ?", iso(logged_from) if logged_from else None),
            ("logged_at <= ?", iso(logged_to) if logged_to else None),
        ):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        rows = self._rows(sql + " ORDER BY step", *args)
        return [Metric.model_validate_json(doc) for (doc,) in rows]

    # -- resources: one table for every kind of record that needs no query of its own -----------

    def put_resource(
        self, kind: str, tenant: str, id_: str, body: dict[str, Any], created_at: datetime
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO resources (kind, id, tenant, created_at, doc) "
            "VALUES (?, ?, ?, ?, ?)",
            kind,
            id_,
            tenant,
            iso(created_at),
            json.dumps(body, separators=(",", ":")),
        )

    def get_resource(self, kind: str, tenant: str, id_: str) -> dict[str, Any]:
        rows = self._rows(
            "SELECT doc FROM resources WHERE kind = ? AND id = ? AND tenant = ?", kind, id_, tenant
        )
        if not rows:
            raise NotFound(kind, id_, message=f"{kind.capitalize()} {id_} not found", param="id")
        body: dict[str, Any] = json.loads(rows[0][0])
        return body

    def list_resources(self, kind: str, tenant: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT doc FROM resources WHERE kind = ? AND tenant = ? ORDER BY created_at, id",
            kind,
            tenant,
        )
        return [json.loads(doc) for (doc,) in rows]

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
            tables = ("files", "uploads", "jobs", "events", "checkpoints", "metrics", "resources")
            for table in tables:
                self._db.execute(f"DELETE FROM {table}")


class _Schema:
    """The store's connection as the migrations runner sees it (``migrations.Database``)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._db = store._db

    def transaction(self) -> AbstractContextManager[None]:
        return self._store.transaction()

    def has_table(self, name: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    def execute(self, statement: str) -> None:
        self._db.execute(statement)

    def read_version(self) -> str | None:
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = ?", (SCHEMA_VERSION_KEY,)
        ).fetchone()
        return None if row is None else str(row[0])

    def write_version(self, value: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (SCHEMA_VERSION_KEY, value)
        )
