"""The database schema as numbered steps, and the runner that brings a database up to the last.

A data dir outlives the code that wrote it, so its schema carries a version and every change to
it is a new step here, never an edit of an old one: a step that has run somewhere must stay what
it was, or two data dirs at the same version would hold different schemas.

Where the version lives: a row of the ``meta`` table (key ``schema_version``), rather than
SQLite's ``PRAGMA user_version``. Step 1 creates ``meta`` on any backend, so the same record, read
and written the same way, serves the PostgreSQL store a later issue adds (it has no file header
to keep a number in); it is written in the same transaction as the step it records, and anyone
who looks at the data (``SELECT * FROM meta``) sees it. That key is therefore reserved:
``set_meta`` refuses it.

What the runner meets on open, and does:

- an empty database: every step, from 1;
- a data dir made by the layout before versions (a ``meta`` table, no version row): that layout
  ran step 1's statements, all ``IF NOT EXISTS``, on every open, so it is adopted by running them
  once more, which creates only what it lacks (the ``resources`` table, in a data dir written
  before that table existed) and changes nothing else, then stamping it 1. This is why step 1 must
  stay idempotent; later steps need not be;
- a version this code knows: the steps above it, if any;
- a version above the last step here: ``SchemaTooNew``, before any step runs.

Each step runs in its own transaction with the stamp of its number, and the version is read again
inside it, so a crash between steps leaves a data dir at a version it really has, and two
processes opening one data dir at once cannot both apply a step (SQLite's ``BEGIN IMMEDIATE``
makes the second wait).

The statements are written in the SQL that SQLite and PostgreSQL both accept (``TEXT``,
``INTEGER``, composite primary keys, ``IF NOT EXISTS``), one statement a string since drivers
differ on running scripts; a later step that cannot be written so will need text per dialect.
What a backend offers the runner is ``Database``, a handful of methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "LATEST",
    "MIGRATIONS",
    "SCHEMA_VERSION_KEY",
    "Database",
    "Migrated",
    "Migration",
    "SchemaError",
    "SchemaTooNew",
    "migrate",
]

SCHEMA_VERSION_KEY = "schema_version"


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    statements: tuple[str, ...]


def _statements(script: str) -> tuple[str, ...]:
    """A script cut at its semicolons (none of these statements holds one), kept verbatim so the
    schema text a database records is the same whichever way it came to it."""
    return tuple(part.strip() for part in script.split(";") if part.strip())


# Step 1 is the previous layout's ``_SCHEMA`` (sqlite.py) character for character: a data dir it
# made and one made here from nothing hold the same schema text.
_STEP_1 = """
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

# Step 2: what replicas on one database need to behave as one service (README, "The state
# map"): a row version on jobs, which every saved move adds one to, so that a job body kept in one
# process's memory can be checked against the row another process may have changed since; and
# the controls' own state (fault rules, behaviours, the journal) where every replica reads it,
# each in order (``seq``) with the two counters that "the next N" counts across all of them.
_STEP_2 = """
ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE TABLE controls (
    kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0, fired INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, id));
CREATE INDEX controls_in_order ON controls (kind, seq)
"""

# Step 3: the real-training runner's leases (real_training/runner.py), a row per job a server
# process trains, so that of replicas sharing the database exactly one trains it, and another
# takes it over once the owner stops renewing. DOUBLE PRECISION: PostgreSQL's REAL is 4 bytes,
# too coarse for wall-clock seconds; SQLite reads it as REAL.
_STEP_3 = """
CREATE TABLE job_leases (
    job_id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "the schema the layout before versions created on every open", _statements(_STEP_1)
    ),
    Migration(2, "job row versions and the controls' shared state", _statements(_STEP_2)),
    Migration(3, "leases of the real-training runner on real jobs", _statements(_STEP_3)),
)

LATEST = MIGRATIONS[-1].version


class SchemaError(RuntimeError):
    """A database this code cannot bring to its schema; the message is one line, fit for a
    command line's error output."""


class SchemaTooNew(SchemaError):
    """A data dir written by a newer together-sim: its schema may hold what this code would
    misread or overwrite, so the store refuses to open it rather than guess."""


class Database(Protocol):
    """What the runner needs of a backend. ``read_version`` and ``write_version`` are only called
    once ``has_table("meta")`` holds, and the backend does the quoting its driver wants."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def has_table(self, name: str) -> bool: ...
    def execute(self, statement: str) -> None: ...
    def read_version(self) -> str | None: ...
    def write_version(self, value: str) -> None: ...


@dataclass(frozen=True)
class Migrated:
    """What opening did to the schema, for the log and the tests."""

    found: int | None  # the version recorded before: None for an empty or pre-version data dir
    adopted: bool  # a data dir of the layout before versions
    applied: tuple[int, ...]  # the steps run (1 too, for an adopted data dir)
    version: int  # the version now


def migrate(db: Database, *, where: str, steps: Sequence[Migration] = MIGRATIONS) -> Migrated:
    """Bring ``db`` to the last of ``steps``; ``where`` names it in the error a too-new one gets."""
    latest = steps[-1].version
    with db.transaction():
        found = _recorded(db, where)
        adopted = found is None and db.has_table("meta")
        _refuse_newer(found, latest, where)
    applied: list[int] = []
    for step in steps:
        with db.transaction():
            current = _recorded(db, where)
            _refuse_newer(current, latest, where)
            if current is not None and step.version <= current:
                continue
            for statement in step.statements:
                db.execute(statement)
            db.write_version(str(step.version))
            applied.append(step.version)
    return Migrated(found=found, adopted=adopted, applied=tuple(applied), version=latest)


def _recorded(db: Database, where: str) -> int | None:
    if not db.has_table("meta"):
        return None
    value = db.read_version()
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise SchemaError(
            f"{where}: schema version {value!r} is not a number this together-sim can read"
        ) from None


def _refuse_newer(found: int | None, latest: int, where: str) -> None:
    if found is not None and found > latest:
        raise SchemaTooNew(
            f"{where} has schema version {found}, newer than this together-sim knows ({latest}):"
            " open it with a newer together-sim, or start this one on another --data-dir"
        )
