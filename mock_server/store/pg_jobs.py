"""The fine-tune jobs and the history they append (events, checkpoints, metrics), in PostgreSQL:
the records the jobs' state machine moves, and the ones two replicas can race on.

A read-then-update (``update_job``) re-reads the job ``FOR UPDATE``, so a replica that wrote in
between is never overwritten; a delete is one ``DELETE ... RETURNING``; and an event's or
checkpoint's ``seq`` (MAX + 1 of the job's) is read only once the job's row is locked by the same
transaction, so two writers appending to one job take turns instead of both taking the same
number. The trainer of a live job is read from its loaded document, not with ``json_extract`` as
SQLite's is, so one malformed document cannot fail the query.

A part of ``PostgresStore`` (``postgres.py``), kept apart as the one record with a history of its
own; SQLite's are ``sqlite_jobs.py``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from mock_server.core.errors import NotFound
from mock_server.core.timefmt import iso
from mock_server.fine_tuning.events import Checkpoint, Event, Metric
from mock_server.fine_tuning.models import LIVE, Job, Transition
from mock_server.store.pg_connection import PgConnection
from mock_server.store.rows import RowReader

__all__ = ["JobRecords"]

_JOB = "Fine-tune job"
_LIVE = [status.value for status in sorted(LIVE)]


def _trainer_of(doc: str) -> object:
    """A job document's trainer, or None where it does not parse (``rows.py`` reports those)."""
    try:
        body = json.loads(doc)
    except ValueError:
        return None
    return body.get("trainer") if isinstance(body, dict) else None


class JobRecords:
    """Mixed into ``PostgresStore``: its connection and row reader are these methods'."""

    _conn: PgConnection
    _read: RowReader

    def transaction(self) -> AbstractContextManager[None]:
        return self._conn.transaction()

    def _job_not_found(self, job_id: str, *, param: str | None = "id") -> NotFound:
        return NotFound(
            "fine-tune job", job_id, message=f"Fine-tune job {job_id} not found", param=param
        )

    def create_job(self, job: Job, events: list[Event]) -> None:
        with self.transaction():
            self._conn.write(
                "INSERT INTO jobs (id, tenant, created_at, output_name, status, doc) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                job.id,
                job.tenant,
                iso(job.created_at),
                job.model_output_name,
                job.status.value,
                job.model_dump_json(),
            )
            self._append(job.id, events, [], [])

    def _load_job(self, job_id: str, doc: str) -> Job:
        return self._read.one(_JOB, job_id, doc, Job.model_validate_json, deletable=True)

    def get_job(self, tenant: str, job_id: str) -> Job:
        rows = self._conn.rows("SELECT doc FROM jobs WHERE id = %s AND tenant = %s", job_id, tenant)
        if not rows:
            raise self._job_not_found(job_id)
        return self._load_job(job_id, rows[0][0])

    def find_job_anywhere(self, job_id: str) -> Job:
        rows = self._conn.rows("SELECT doc FROM jobs WHERE id = %s", job_id)
        if not rows:
            raise self._job_not_found(job_id, param=None)
        return self._load_job(job_id, rows[0][0])

    def find_job_by_output_name(self, tenant: str, name: str) -> Job:
        rows = self._conn.rows(
            'SELECT id, doc FROM jobs WHERE tenant = %s AND lower(output_name COLLATE "C") = '
            'lower(%s COLLATE "C") LIMIT 1',
            tenant,
            name,
        )
        if not rows:
            raise NotFound("model", name, message=f"No fine-tuned model named {name}")
        return self._load_job(rows[0][0], rows[0][1])

    def list_jobs(self, tenant: str) -> list[Job]:
        rows = self._conn.rows(
            'SELECT id, doc FROM jobs WHERE tenant = %s ORDER BY created_at COLLATE "C", '
            'id COLLATE "C"',
            tenant,
        )
        return list(self._read.each("jobs", rows, Job.model_validate_json))

    def _live_rows(self) -> list[tuple[Any, ...]]:
        return self._conn.rows("SELECT id, doc FROM jobs WHERE status = ANY(%s)", _LIVE)

    def iter_live_jobs(self, *, trainer: str | None = None) -> Iterator[Job]:
        jobs = self._read.each("jobs", self._live_rows(), Job.model_validate_json)
        yield from (job for job in jobs if trainer is None or job.trainer == trainer)

    def has_live_jobs(self, *, trainer: str) -> bool:
        return any(_trainer_of(doc) == trainer for _, doc in self._live_rows())

    def _append(
        self, job_id: str, events: list[Event], checkpoints: list[Checkpoint], metrics: list[Metric]
    ) -> None:
        """Inside a transaction that holds the job's row (its insert or its update), so that the
        MAX read here is the last one: no other transaction appends to the job until it ends."""
        for table, records in (("events", events), ("checkpoints", checkpoints)):
            if not records:
                continue
            [(seq,)] = self._conn.rows(
                f"SELECT COALESCE(MAX(seq), 0) FROM {table} WHERE job_id = %s", job_id
            )
            self._conn.write_many(
                f"INSERT INTO {table} (job_id, seq, doc) VALUES (%s, %s, %s)",
                [(job_id, seq + i + 1, r.model_dump_json()) for i, r in enumerate(records)],
            )
        if metrics:
            self._conn.write_many(
                "INSERT INTO metrics (job_id, step, logged_at, doc) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (job_id, step) DO UPDATE SET logged_at = EXCLUDED.logged_at, "
                "doc = EXCLUDED.doc",
                [(job_id, m.step, iso(m.logged_at), m.model_dump_json()) for m in metrics],
            )

    def save_transition(self, transition: Transition) -> None:
        job = transition.job
        with self.transaction():
            # The UPDATE locks the job's row first: _append's MAX comes after it.
            self._conn.write(
                "UPDATE jobs SET status = %s, doc = %s, version = version + 1 WHERE id = %s",
                job.status.value,
                job.model_dump_json(),
                job.id,
            )
            self._append(job.id, transition.events, transition.checkpoints, transition.metrics)

    def update_job(self, tenant: str, job_id: str, move: Callable[[Job], Transition]) -> Job:
        # As SQLite's: a read that moves nothing takes no lock. A move is made again on the job
        # as it is once its row is locked, so a replica that wrote in between is never
        # overwritten, and waits for one that is writing.
        before = self.get_job(tenant, job_id)
        transition = move(before)
        if transition.job == before and not transition.events:
            return before
        with self.transaction():
            rows = self._conn.rows(
                "SELECT doc FROM jobs WHERE id = %s AND tenant = %s FOR UPDATE", job_id, tenant
            )
            if not rows:
                raise self._job_not_found(job_id)
            before = self._load_job(job_id, rows[0][0])
            transition = move(before)
            if transition.job != before or transition.events:
                self.save_transition(transition)
            return transition.job

    def delete_job(self, tenant: str, job_id: str) -> None:
        with self.transaction():
            # Whether it loads or not: a job that does not load can still be deleted.
            if not self._conn.rows(
                "DELETE FROM jobs WHERE id = %s AND tenant = %s RETURNING id", job_id, tenant
            ):
                raise self._job_not_found(job_id)
            for table in ("events", "checkpoints", "metrics", "job_leases"):
                self._conn.write(f"DELETE FROM {table} WHERE job_id = %s", job_id)

    def list_events(self, job_id: str) -> list[Event]:
        rows = self._conn.rows(
            "SELECT job_id || ':' || seq, doc FROM events WHERE job_id = %s ORDER BY seq", job_id
        )
        return list(self._read.each("events", rows, Event.model_validate_json))

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        rows = self._conn.rows(
            "SELECT job_id || ':' || seq, doc FROM checkpoints WHERE job_id = %s ORDER BY seq",
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
        sql = "SELECT job_id || ':' || step, doc FROM metrics WHERE job_id = %s"
        args: list[Any] = [job_id]
        for clause, value in (
            ("step >= %s", step_from),
            ("step <= %s", step_to),
            ('logged_at COLLATE "C" >= %s', iso(logged_from) if logged_from else None),
            ('logged_at COLLATE "C" <= %s', iso(logged_to) if logged_to else None),
        ):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        rows = self._conn.rows(sql + " ORDER BY step", *args)
        return list(self._read.each("metrics", rows, Metric.model_validate_json))
