"""The fine-tune jobs and the history they append (events, checkpoints, metrics), in SQLite: the
records the jobs' state machine moves. A job's document and the rows a move appends are written in
one transaction (``save_transition``), numbered after the job's last; a read that moves nothing
takes no write lock, and a move is made again under the lock on the job as it is then, so a writer
that came in between is never overwritten (``update_job``).

A part of ``SqliteStore`` (``sqlite.py``), kept apart as the one record with a history of its own;
PostgreSQL's are ``pg_jobs.py``'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.timefmt import iso
from mock_server.fine_tuning.events import Checkpoint, Event, Metric
from mock_server.fine_tuning.models import LIVE, Job, Transition
from mock_server.store.connection import Connection
from mock_server.store.rows import RowReader

__all__ = ["JobRecords"]

_JOB = "Fine-tune job"


class JobRecords:
    """Mixed into ``SqliteStore``: its connection, raw database and row reader are these
    methods'."""

    _conn: Connection
    _db: sqlite3.Connection
    _read: RowReader

    def transaction(self) -> AbstractContextManager[None]:
        return self._conn.transaction()

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
