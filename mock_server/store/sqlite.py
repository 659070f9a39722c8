"""The SQLite store: one file under the data dir, surviving restarts and ``kill -9``.

Records are kept as JSON documents beside the columns that are queried (tenant, ids, times), so
the schema does not have to chase every field of the API. The connection, its locking and its
transactions are ``connection.py``'s; the schema is versioned and brought up to date on open by
the numbered steps of ``migrations.py``; a row that does not load is handled as ``rows.py`` says.
Records only: bytes (files' bodies, upload parts, real jobs' outputs) are a ``BlobStore``'s
(``blobs.py``), which app.py roots in the same data dir.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.timefmt import iso
from mock_server.files.models import FileRecord, UploadSession
from mock_server.fine_tuning.events import Checkpoint, Event, Metric
from mock_server.fine_tuning.models import LIVE, Job, Transition
from mock_server.store.base import Control, Counter
from mock_server.store.connection import Connection
from mock_server.store.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION_KEY,
    Migrated,
    Migration,
    migrate,
)
from mock_server.store.rows import RowReader, document

__all__ = ["SqliteStore"]

log = logging.getLogger("together_sim.store")

_JOB = "Fine-tune job"
_COUNTERS: dict[Counter, str] = {"seen": "seen", "fired": "fired"}


class SqliteStore:
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

    def transaction(self) -> AbstractContextManager[None]:
        return self._conn.transaction()

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
        rows = self._conn.rows("SELECT doc FROM jobs WHERE id = ? AND tenant = ?", job_id, tenant)
        if not rows:
            raise NotFound(
                "fine-tune job", job_id, message=f"Fine-tune job {job_id} not found", param="id"
            )
        return self._read.one(_JOB, job_id, rows[0][0], Job.model_validate_json, deletable=True)

    def find_job_anywhere(self, job_id: str) -> Job:
        rows = self._conn.rows("SELECT doc FROM jobs WHERE id = ?", job_id)
        if not rows:
            raise NotFound("fine-tune job", job_id, message=f"Fine-tune job {job_id} not found")
        return self._read.one(_JOB, job_id, rows[0][0], Job.model_validate_json, deletable=True)

    def find_job_by_output_name(self, tenant: str, name: str) -> Job:
        rows = self._conn.rows(
            "SELECT id, doc FROM jobs WHERE tenant = ? AND output_name = ? COLLATE NOCASE",
            tenant,
            name,
        )
        if not rows:
            raise NotFound("model", name, message=f"No fine-tuned model named {name}")
        return self._read.one(_JOB, rows[0][0], rows[0][1], Job.model_validate_json, deletable=True)

    def list_jobs(self, tenant: str) -> list[Job]:
        rows = self._conn.rows(
            "SELECT id, doc FROM jobs WHERE tenant = ? ORDER BY created_at, id", tenant
        )
        return list(self._read.each("jobs", rows, Job.model_validate_json))

    def iter_live_jobs(self, *, trainer: str | None = None) -> Iterator[Job]:
        marks = ",".join("?" * len(LIVE))
        sql = f"SELECT id, doc FROM jobs WHERE status IN ({marks})"
        args: list[str] = [status.value for status in sorted(LIVE)]
        if trainer is not None:
            sql, args = sql + " AND json_extract(doc, '$.trainer') = ?", [*args, trainer]
        yield from self._read.each("jobs", self._conn.rows(sql, *args), Job.model_validate_json)

    def has_live_jobs(self, *, trainer: str) -> bool:
        marks = ",".join("?" * len(LIVE))
        rows = self._conn.rows(
            f"SELECT 1 FROM jobs WHERE status IN ({marks}) "
            "AND json_extract(doc, '$.trainer') = ? LIMIT 1",
            *sorted(LIVE),
            trainer,
        )
        return bool(rows)

    def list_tenants(self) -> list[str]:
        rows = self._conn.rows(
            "SELECT tenant FROM (SELECT tenant, created_at FROM files "
            "UNION ALL SELECT tenant, created_at FROM jobs "
            "UNION ALL SELECT tenant, created_at FROM resources) "
            "GROUP BY tenant ORDER BY MAX(created_at) DESC, tenant"
        )
        return [tenant for (tenant,) in rows]

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
                "UPDATE jobs SET status = ?, doc = ?, version = version + 1 WHERE id = ?",
                (job.status.value, job.model_dump_json(), job.id),
            )
            self._append(job.id, transition.events, transition.checkpoints, transition.metrics)

    def update_job(self, tenant: str, job_id: str, move: Callable[[Job], Transition]) -> Job:
        # Most reads of a job find nothing to move: those take no write lock (so they go on while
        # another process holds it). A move is made again under the lock, on the job as it is
        # then, so a writer that came in between is never overwritten.
        before = self.get_job(tenant, job_id)
        transition = move(before)
        if transition.job == before and not transition.events:
            return before
        with self.transaction():
            before = self.get_job(tenant, job_id)
            transition = move(before)
            if transition.job != before or transition.events:
                self.save_transition(transition)
            return transition.job

    def delete_job(self, tenant: str, job_id: str) -> None:
        with self.transaction():
            if not self._conn.rows(
                "SELECT 1 FROM jobs WHERE id = ? AND tenant = ?", job_id, tenant
            ):
                self.get_job(tenant, job_id)  # the NotFound; a job that does not load goes too
            for table in ("jobs",):
                self._db.execute(f"DELETE FROM {table} WHERE id = ?", (job_id,))
            for table in ("events", "checkpoints", "metrics", "job_leases"):
                self._db.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))

    def job_version(self, job_id: str) -> int | None:
        rows = self._conn.rows("SELECT version FROM jobs WHERE id = ?", job_id)
        return int(rows[0][0]) if rows else None

    def list_events(self, job_id: str) -> list[Event]:
        rows = self._conn.rows(
            "SELECT job_id || ':' || seq, doc FROM events WHERE job_id = ? ORDER BY seq", job_id
        )
        return list(self._read.each("events", rows, Event.model_validate_json))

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        rows = self._conn.rows(
            "SELECT job_id || ':' || seq, doc FROM checkpoints WHERE job_id = ? ORDER BY seq",
            job_id,
        )
        return list(self._read.each("checkpoints", rows, Checkpoint.model_validate_json))

    def list_metrics(
        self,
        job_id: str,
        *,
        step_from: int | None = None,
        step_to: int | None = None,
        logged_from: datetime | None = None,
        logged_to: datetime | None = None,
    ) -> list[Metric]:
        sql = "SELECT job_id || ':' || step, doc FROM metrics WHERE job_id = ?"
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
        rows = self._conn.rows(sql + " ORDER BY step", *args)
        return list(self._read.each("metrics", rows, Metric.model_validate_json))

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

    # -- controls: the simulator's own shared state (migration step 2) ---------------------------

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

    # -- reset ------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.transaction():
            tables = (
                *("files", "uploads", "jobs", "events", "checkpoints", "metrics", "resources"),
                "job_leases",
            )
            for table in tables:
                self._db.execute(f"DELETE FROM {table}")
