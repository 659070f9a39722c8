"""Migration step 2 (row versions on jobs, the controls' table) over a database that step 1
made and filled, on every store: its rows stay, its jobs start at version 0, and what the step
adds works at once."""

from __future__ import annotations

from datetime import timedelta

from mock_server.fine_tuning.machine import advance
from mock_server.store.migrations import MIGRATIONS
from tests.builders import T0, make_file, make_job, pending_event
from tests.store.conftest import Backend

JOB = make_job()
RECORD = make_file()


def test_a_step_1_database_is_brought_to_step_2_with_its_rows(backend: Backend) -> None:
    old = backend.open(steps=MIGRATIONS[:1])
    old.create_job(JOB, [pending_event(JOB)])
    old.put_file(RECORD)
    old.set_meta("clock_offset", "86400.0")
    old.close()

    store = backend.open(steps=MIGRATIONS[:2])
    assert (store.migrated.found, store.migrated.applied, store.migrated.version) == (  # type: ignore[attr-defined]
        1,
        (2,),
        2,
    )
    assert store.get_meta("schema_version") == "2"
    assert store.get_job(JOB.tenant, JOB.id) == JOB
    assert store.get_file(RECORD.tenant, RECORD.id) == RECORD
    assert store.get_meta("clock_offset") == "86400.0"
    assert store.job_version(JOB.id) == 0  # the column's default, for every job it found
    store.update_job(JOB.tenant, JOB.id, lambda j: advance(j, T0 + timedelta(seconds=40)))
    assert store.job_version(JOB.id) == 1
    store.put_control("fault", "f1", {"status": 503})
    assert [c.id for c in store.list_controls("fault")] == ["f1"]


def test_step_2_runs_once(backend: Backend) -> None:
    backend.open(steps=MIGRATIONS[:2]).close()
    again = backend.open(steps=MIGRATIONS[:2])
    assert again.migrated.applied == ()  # type: ignore[attr-defined]
