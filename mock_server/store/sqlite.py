"""The SQLite store: one file under the data dir, surviving restarts and ``kill -9``.

Records are kept as JSON documents beside the columns that are queried (tenant, ids, times), so
the schema does not have to chase every field of the API. WAL mode and ``synchronous=NORMAL``
keep writes cheap while a crash loses nothing that was committed. One connection is shared by all
threads behind a re-entrant lock: requests are short, and a single writer is what SQLite wants.
The schema is versioned and brought up to date on open by the numbered steps of
``migrations.py``. Records only: bytes (files' bodies, upload parts, real jobs' outputs) are a
``BlobStore``'s (``blobs.py``), which app.py roots in the same data dir.

A row whose document does not load (written by a build with other rules, edited by hand, or
holding a NaN that JSON cannot) is one bad record, not a broken store: lists skip it and log it
once, and a read of it alone raises ``UnreadableRecord`` naming it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from mock_server.core.errors import NotFound
from mock_server.core.timefmt import iso
from mock_server.files.models import FileRecord, UploadSession
from mock_server.fine_tuning.events import Checkpoint, Event, Metric
from mock_server.fine_tuning.models import LIVE, Job, Transition
from mock_server.store.base import UnreadableRecord
from mock_server.store.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION_KEY,
    Migrated,
    Migration,
    migrate,
)

__all__ = ["SqliteStore"]

log = logging.getLogger("together_sim.store")

T = TypeVar("T")

_JOB = "Fine-tune job"


def _why(exc: Exception) -> str:
    """What is wrong with a document, in one short line."""
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _document(doc: str) -> dict[str, Any]:
    """A resource's document: a JSON object, without the NaN or Infinity Python's json would
    accept (no answer could carry it)."""
    body = json.loads(doc, parse_constant=_refuse_constant)
    if not isinstance(body, dict):
        raise ValueError(f"a {type(body).__name__}, not an object")
    return body


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
        self._reported: set[tuple[str, str]] = set()  # unreadable rows already logged
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

    def _report(self, table: str, key: str, exc: Exception) -> None:
        with self._lock:
            if (table, key) in self._reported:
                return
            self._reported.add((table, key))
        log.warning("%s: %s row %s does not load, left out: %s", self._path, table, key, _why(exc))

    def _each(
        self, table: str, rows: Iterable[tuple[Any, str]], load: Callable[[str], T]
    ) -> Iterator[T]:
        """The rows' records (``(key, doc)`` each), leaving out and reporting any that does not
        load."""
        for key, doc in rows:
            try:
                yield load(doc)
            except ValueError as exc:  # pydantic's ValidationError and json's errors included
                self._report(table, str(key), exc)

    def _one(self, kind: str, id_: str, doc: str, load: Callable[[str], T]) -> T:
        try:
            return load(doc)
        except ValueError as exc:
            raise UnreadableRecord(kind, id_, _why(exc), deletable=kind == _JOB) from None

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
        return self._one("File", file_id, rows[0][0], FileRecord.model_validate_json)

    def list_files(self, tenant: str) -> list[FileRecord]:
        rows = self._rows(
            "SELECT id, doc FROM files WHERE tenant = ? ORDER BY created_at, id", tenant
        )
        return list(self._each("files", rows, FileRecord.model_validate_json))

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
        return self._one(_JOB, job_id, rows[0][0], Job.model_validate_json)

    def find_job_anywhere(self, job_id: str) -> Job:
        rows = self._rows("SELECT doc FROM jobs WHERE id = ?", job_id)
        if not rows:
            raise NotFound("fine-tune job", job_id, message=f"Fine-tune job {job_id} not found")
        return self._one(_JOB, job_id, rows[0][0], Job.model_validate_json)

    def find_job_by_output_name(self, tenant: str, name: str) -> Job:
        rows = self._rows(
            "SELECT id, doc FROM jobs WHERE tenant = ? AND output_name = ? COLLATE NOCASE",
            tenant,
            name,
        )
        if not rows:
            raise NotFound("model", name, message=f"No fine-tuned model named {name}")
        return self._one(_JOB, rows[0][0], rows[0][1], Job.model_validate_json)

    def list_jobs(self, tenant: str) -> list[Job]:
        rows = self._rows(
            "SELECT id, doc FROM jobs WHERE tenant = ? ORDER BY created_at, id", tenant
        )
        return list(self._each("jobs", rows, Job.model_validate_json))

    def iter_live_jobs(self, *, trainer: str | None = None) -> Iterator[Job]:
        marks = ",".join("?" * len(LIVE))
        sql = f"SELECT id, doc FROM jobs WHERE status IN ({marks})"
        args: list[str] = [status.value for status in sorted(LIVE)]
        if trainer is not None:
            sql, args = sql + " AND json_extract(doc, '$.trainer') = ?", [*args, trainer]
        yield from self._each("jobs", self._rows(sql, *args), Job.model_validate_json)

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
            if not self._rows("SELECT 1 FROM jobs WHERE id = ? AND tenant = ?", job_id, tenant):
                self.get_job(tenant, job_id)  # the NotFound; a job that does not load goes too
            for table in ("jobs",):
                self._db.execute(f"DELETE FROM {table} WHERE id = ?", (job_id,))
            for table in ("events", "checkpoints", "metrics"):
                self._db.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))

    def list_events(self, job_id: str) -> list[Event]:
        rows = self._rows(
            "SELECT job_id || ':' || seq, doc FROM events WHERE job_id = ? ORDER BY seq", job_id
        )
        return list(self._each("events", rows, Event.model_validate_json))

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        rows = self._rows(
            "SELECT job_id || ':' || seq, doc FROM checkpoints WHERE job_id = ? ORDER BY seq",
            job_id,
        )
        return list(self._each("checkpoints", rows, Checkpoint.model_validate_json))

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
        rows = self._rows(sql + " ORDER BY step", *args)
        return list(self._each("metrics", rows, Metric.model_validate_json))

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
            json.dumps(body, separators=(",", ":"), allow_nan=False),  # NaN is no JSON
        )

    def get_resource(self, kind: str, tenant: str, id_: str) -> dict[str, Any]:
        rows = self._rows(
            "SELECT doc FROM resources WHERE kind = ? AND id = ? AND tenant = ?", kind, id_, tenant
        )
        if not rows:
            raise NotFound(kind, id_, message=f"{kind.capitalize()} {id_} not found", param="id")
        return self._one(kind.capitalize(), id_, rows[0][0], _document)

    def list_resources(self, kind: str, tenant: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT kind || ':' || id, doc FROM resources WHERE kind = ? AND tenant = ? "
            "ORDER BY created_at, id",
            kind,
            tenant,
        )
        return list(self._each("resources", rows, _document))

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
