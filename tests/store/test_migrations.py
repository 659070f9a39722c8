"""Opening data dirs of every schema the store has had: the layouts from before versions (built
here from their literal SQL, rows written as that code wrote them: SQLite's alone), fresh ones,
ones a later step or a newer together-sim touched, and a step that fails half-way (on each store,
conftest.py)."""

from __future__ import annotations

import gc
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from mock_server.cli import main
from mock_server.core.timefmt import iso
from mock_server.files.models import FilePurpose, FileType, UploadSession
from mock_server.fine_tuning.machine import advance
from mock_server.fine_tuning.models import JobStatus
from mock_server.store import LocalBlobStore, SchemaError, SchemaTooNew, SqliteStore
from mock_server.store.migrations import LATEST, MIGRATIONS, Migration
from tests.builders import T0, make_file, make_job, pending_event
from tests.store.conftest import Backend

DB = "together-sim.sqlite3"

# The schema every open ran before versions (sqlite.py's ``_SCHEMA`` until then), verbatim.
UNVERSIONED_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_at TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS files_by_tenant ON files (tenant, created_at);
CREATE TABLE IF NOT EXISTS uploads (file_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_at TEXT NOT NULL,
    output_name TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_output ON jobs (tenant, output_name);
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (job_id, seq));
CREATE TABLE IF NOT EXISTS checkpoints (
    job_id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (job_id, seq));
CREATE TABLE IF NOT EXISTS metrics (
    job_id TEXT NOT NULL, step INTEGER NOT NULL, logged_at TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (job_id, step));
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, id TEXT NOT NULL, tenant TEXT NOT NULL, created_at TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (kind, tenant, id));
CREATE INDEX IF NOT EXISTS resources_by_tenant ON resources (kind, tenant, created_at);
"""

# The same, as it was before the ``resources`` table (the first store, commit c548dce).
BEFORE_RESOURCES_SCHEMA = UNVERSIONED_SCHEMA[
    : UNVERSIONED_SCHEMA.index("CREATE TABLE IF NOT EXISTS resources")
]

SESSION = UploadSession(
    file_id="file-00000000-0000-4000-8000-0000000000u1",
    tenant="tenant-a",
    token="t0k",
    filename="half.jsonl",
    purpose=FilePurpose.fine_tune,
    file_type=FileType.jsonl,
    created_at=T0,
)
RECORD = make_file(validation_report={"valid": True, "nlines": 2}, num_samples=2)
JOB = make_job(n_checkpoints=2)
MOVE = advance(JOB, T0 + timedelta(days=1))  # to completed: events, checkpoints and metrics
ENDPOINT = {"id": "endpoint-1", "state": "STARTED", "hardware": ["1x_nvidia_h100_80gb_sxm"]}


def _write_unversioned(data_dir: Path, schema: str, *, resources: bool = True) -> None:
    """A data dir as the code before versions left it: its schema, rows bound as its store bound
    them (JSON documents beside the queried columns, times through ``iso``), and the bytes."""
    data_dir.mkdir(exist_ok=True)
    (data_dir / "blobs").mkdir()
    (data_dir / "parts").mkdir()
    (data_dir / "blobs" / RECORD.id).write_bytes(b'{"text": "hi"}\n')
    (data_dir / "parts" / f"{SESSION.file_id}.0.part").write_bytes(b'{"te')
    db = sqlite3.connect(data_dir / DB, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [("clock_offset", "86400.0"), ("generation", "3")],
        )
        db.execute(
            "INSERT OR REPLACE INTO files (id, tenant, created_at, doc) VALUES (?, ?, ?, ?)",
            (RECORD.id, RECORD.tenant, iso(RECORD.created_at), RECORD.model_dump_json()),
        )
        db.execute(
            "INSERT OR REPLACE INTO uploads (file_id, doc) VALUES (?, ?)",
            (SESSION.file_id, SESSION.model_dump_json()),
        )
        job = MOVE.job
        db.execute(
            "INSERT INTO jobs (id, tenant, created_at, output_name, status, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                job.id,
                job.tenant,
                iso(job.created_at),
                job.model_output_name,
                job.status.value,
                job.model_dump_json(),
            ),
        )
        events = [pending_event(JOB), *MOVE.events]
        db.executemany(
            "INSERT INTO events (job_id, seq, doc) VALUES (?, ?, ?)",
            [(job.id, n, e.model_dump_json()) for n, e in enumerate(events, start=1)],
        )
        db.executemany(
            "INSERT INTO checkpoints (job_id, seq, doc) VALUES (?, ?, ?)",
            [(job.id, n, c.model_dump_json()) for n, c in enumerate(MOVE.checkpoints, start=1)],
        )
        db.executemany(
            "INSERT OR REPLACE INTO metrics (job_id, step, logged_at, doc) VALUES (?, ?, ?, ?)",
            [(job.id, m.step, iso(m.logged_at), m.model_dump_json()) for m in MOVE.metrics],
        )
        if resources:
            db.execute(
                "INSERT OR REPLACE INTO resources (kind, id, tenant, created_at, doc) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    "endpoint",
                    "endpoint-1",
                    "tenant-a",
                    iso(T0),
                    json.dumps(ENDPOINT, separators=(",", ":")),
                ),
            )
        db.execute("COMMIT")
    finally:
        db.close()


def _query(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(data_dir / DB)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _schema(data_dir: Path) -> list[tuple[object, ...]]:
    return _query(data_dir, "SELECT type, name, sql FROM sqlite_master ORDER BY type, name")


def _stamp(data_dir: Path, value: str) -> None:
    db = sqlite3.connect(data_dir / DB)
    try:
        with db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (value,)
            )
    finally:
        db.close()


def _assert_rows_of_the_unversioned_layout(store: SqliteStore) -> None:
    assert store.get_file("tenant-a", RECORD.id) == RECORD
    blobs = LocalBlobStore(store.data_dir)  # the bytes, beside the records as app.py keeps them
    assert blobs.read_bytes(RECORD.id) == b'{"text": "hi"}\n'
    assert store.get_upload(SESSION.file_id) == SESSION
    assert blobs.part_path(SESSION.file_id).read_bytes() == b'{"te'
    assert store.get_job("tenant-a", JOB.id) == MOVE.job
    assert store.get_job("tenant-a", JOB.id).status is JobStatus.completed
    assert store.list_events(JOB.id) == [pending_event(JOB), *MOVE.events]
    assert store.list_checkpoints(JOB.id) == MOVE.checkpoints
    assert store.list_metrics(JOB.id) == MOVE.metrics
    assert store.get_meta("clock_offset") == "86400.0"


# -- the layouts from before versions -------------------------------------------------------------


def test_a_data_dir_from_before_versions_opens_with_its_rows_and_is_stamped_1(
    tmp_path: Path,
) -> None:
    _write_unversioned(tmp_path, UNVERSIONED_SCHEMA)
    before = _schema(tmp_path)
    store = SqliteStore(tmp_path, steps=MIGRATIONS[:1])  # adopting it; the later steps: below
    try:
        assert (store.migrated.found, store.migrated.adopted, store.migrated.version) == (
            None,
            True,
            1,
        )
        assert store.get_meta("schema_version") == "1"
        _assert_rows_of_the_unversioned_layout(store)
        assert store.get_resource("endpoint", "tenant-a", "endpoint-1") == ENDPOINT
        assert store.list_tenants() == ["tenant-a"]
    finally:
        store.close()
    assert _schema(tmp_path) == before  # stamped, nothing created or changed


def test_opening_it_a_second_time_runs_nothing(tmp_path: Path) -> None:
    _write_unversioned(tmp_path, UNVERSIONED_SCHEMA)
    SqliteStore(tmp_path).close()
    schema = _schema(tmp_path)
    again = SqliteStore(tmp_path)
    try:
        assert (again.migrated.found, again.migrated.adopted, again.migrated.applied) == (
            LATEST,
            False,
            (),
        )
        _assert_rows_of_the_unversioned_layout(again)
    finally:
        again.close()
    assert _schema(tmp_path) == schema


def test_a_data_dir_from_before_resources_gains_the_table_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    _write_unversioned(tmp_path, BEFORE_RESOURCES_SCHEMA, resources=False)
    assert "resources" not in {name for _, name, _ in _schema(tmp_path)}
    store = SqliteStore(tmp_path)
    try:
        assert (store.migrated.adopted, store.migrated.version) == (True, LATEST)
        _assert_rows_of_the_unversioned_layout(store)
        store.put_resource("endpoint", "tenant-a", "e-1", {"n": 1}, T0)
        assert store.list_resources("endpoint", "tenant-a") == [{"n": 1}]
    finally:
        store.close()


# -- fresh data dirs and later steps --------------------------------------------------------------


def test_a_fresh_data_dir_gets_every_step(backend: Backend) -> None:
    store = backend.open()
    migrated = store.migrated  # type: ignore[attr-defined]  # both stores say what they ran
    assert (migrated.found, migrated.adopted) == (None, False)
    assert migrated.applied == tuple(range(1, LATEST + 1))
    assert store.get_meta("schema_version") == str(LATEST)


def test_step_1_makes_the_very_schema_the_layout_before_versions_made(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "fresh", steps=MIGRATIONS[:1]).close()
    _write_unversioned(tmp_path / "old", UNVERSIONED_SCHEMA)
    assert _schema(tmp_path / "fresh") == _schema(tmp_path / "old")


def test_the_steps_are_numbered_from_1_and_step_1_can_run_over_any_earlier_layout() -> None:
    assert [step.version for step in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all("IF NOT EXISTS" in statement for statement in MIGRATIONS[0].statements)


ADD_LABELS = Migration(
    2,
    "labels on jobs",
    (
        "CREATE TABLE labels (job_id TEXT NOT NULL, label TEXT NOT NULL)",
        "INSERT INTO labels (job_id, label) SELECT id, status FROM jobs",
    ),
)


def _labels(version: int) -> Migration:
    """``ADD_LABELS`` as the step after the last one this code has."""
    return Migration(version, ADD_LABELS.summary, ADD_LABELS.statements)


def test_a_later_step_runs_once_over_an_existing_data_dir(tmp_path: Path) -> None:
    _write_unversioned(tmp_path, UNVERSIONED_SCHEMA)
    SqliteStore(tmp_path).close()
    newer = SqliteStore(tmp_path, steps=(*MIGRATIONS, _labels(LATEST + 1)))
    try:
        assert (newer.migrated.found, newer.migrated.applied, newer.migrated.version) == (
            LATEST,
            (LATEST + 1,),
            LATEST + 1,
        )
    finally:
        newer.close()
    assert _query(tmp_path, "SELECT job_id, label FROM labels") == [(JOB.id, "completed")]
    again = SqliteStore(tmp_path, steps=(*MIGRATIONS, _labels(LATEST + 1)))
    try:
        assert again.migrated.applied == ()
    finally:
        again.close()
    assert _query(tmp_path, "SELECT count(*) FROM labels") == [(1,)]


def _has_table(backend: Backend, name: str) -> bool:
    catalogue = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
        if backend.name == "sqlite"
        else "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = ?"
    )
    return bool(backend.execute(catalogue, name))


def test_a_later_step_runs_once_over_an_existing_database(backend: Backend) -> None:
    first = backend.open()
    first.create_job(JOB, [pending_event(JOB)])
    first.close()
    newer = backend.open(steps=(*MIGRATIONS, _labels(LATEST + 1)))
    assert (newer.migrated.found, newer.migrated.applied) == (LATEST, (LATEST + 1,))  # type: ignore[attr-defined]
    newer.close()
    assert backend.execute("SELECT job_id, label FROM labels") == [(JOB.id, "pending")]
    again = backend.open(steps=(*MIGRATIONS, _labels(LATEST + 1)))
    assert again.migrated.applied == ()  # type: ignore[attr-defined]
    assert backend.execute("SELECT count(*) FROM labels") == [(1,)]


def test_a_failing_step_is_undone_whole_and_leaves_the_version_below_it(backend: Backend) -> None:
    broken = Migration(
        LATEST + 1,
        "a step that fails after its first statement",
        ("CREATE TABLE labels (job_id TEXT NOT NULL)", "INSERT INTO no_such_table VALUES (1)"),
    )
    backend.open().close()
    with pytest.raises(Exception, match="no_such_table"):  # each driver's own error
        backend.open(steps=(*MIGRATIONS, broken))
    store = backend.open()
    assert (store.migrated.found, store.migrated.applied) == (LATEST, ())  # type: ignore[attr-defined]
    assert not _has_table(backend, "labels")


# -- data dirs this code cannot use ---------------------------------------------------------------


def test_a_data_dir_a_newer_version_wrote_refuses_to_open_and_is_left_alone(
    tmp_path: Path,
) -> None:
    _write_unversioned(tmp_path, UNVERSIONED_SCHEMA)
    _stamp(tmp_path, str(LATEST + 1))
    schema = _schema(tmp_path)
    with pytest.raises(SchemaTooNew) as caught:
        SqliteStore(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / DB) in message
    assert f"schema version {LATEST + 1}, newer than this together-sim knows ({LATEST})" in message
    assert _schema(tmp_path) == schema
    # The newer code still opens it, rows and all.
    newer = SqliteStore(tmp_path, steps=(*MIGRATIONS, _labels(LATEST + 1)))
    try:
        assert newer.migrated.applied == ()
        assert newer.get_job("tenant-a", JOB.id) == MOVE.job
    finally:
        newer.close()


def test_a_later_step_makes_the_data_dir_too_new_for_the_code_before_it(backend: Backend) -> None:
    backend.open(steps=(*MIGRATIONS, _labels(LATEST + 1))).close()
    with pytest.raises(SchemaTooNew):
        backend.open()


def test_a_version_that_is_not_a_number_refuses_to_open(backend: Backend) -> None:
    backend.open().close()
    backend.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", "two")
    with pytest.raises(SchemaError, match="schema version 'two' is not a number"):
        backend.open()


def test_serve_on_a_data_dir_it_cannot_use_exits_with_the_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SqliteStore(tmp_path).close()
    _stamp(tmp_path, str(LATEST + 1))
    assert main(["serve", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("together-sim: ")
    assert f"schema version {LATEST + 1}, newer than this together-sim knows" in err
    assert gc.isenabled()  # serve turns collection off while it builds the app
