"""The PostgreSQL store's connections: a ``psycopg_pool.ConnectionPool``, transactions held on
one pooled connection per thread, the schema brought up to date under an advisory lock, and
PostgreSQL's ways of saying "not now" turned into a 503.

A read outside a transaction takes a pooled connection for one statement (autocommit: it sees
everything committed before it, by any replica). A transaction holds one connection from its
outermost ``transaction()`` to its end; a nested one, in the same thread, joins it, as SQLite's
does (``connection.py``): no savepoint, so the outermost alone commits or rolls back.

One writer at a time, as on SQLite: each transaction first takes one advisory lock that every
replica's transactions take, and holds it to its commit. ``Store.transaction()`` promises a
read-modify-write that nothing interleaves with, and the services lean on it with plain reads
(a counter in ``meta`` read then set, a resource loaded, changed and put back); under PostgreSQL's
READ COMMITTED two replicas would both read the old value and one write would be lost. The
store's own read-then-update paths also lock their rows (``postgres.py``), and single statements
outside a transaction (most writes, every read) run beside it, so what waits on the lock is the
multi-statement writes, milliseconds each; past ``busy_wait`` the wait is a 503. What it costs
(8 threads of two replicas saving moves of 8 jobs, the 2-core machine the server shares): ~1,300
saves a second with it, ~2,000 without; reads are not held up by it.

Busy or gone: a row another replica holds past ``busy_wait`` (``lock_timeout``), no connection
free in the pool in time, a serialization failure or deadlock, the server refusing or dropping a
connection mid-request. Each is a psycopg ``OperationalError`` (the pool's timeout included), and
each is the same 503 with ``retry-after`` that SQLite's lock gets, which both SDKs retry: nothing
was changed, as the transaction rolled back. The pool replaces a connection that broke.

On the event loop (``core/offload.py``'s ``must_not_wait``) every call raises ``WouldBlock``
before it touches the network: any PostgreSQL call waits for a round trip, so a ``loop_first``
handler goes straight to its worker thread.

The migrations run on a connection of their own, outside the pool, holding a session advisory
lock: replicas that start at once take turns, and the second finds the steps applied. psycopg is
imported only when a PostgreSQL store is opened.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mock_server.core.errors import InvalidRequest, ServiceUnavailable
from mock_server.core.offload import WouldBlock, must_not_wait
from mock_server.store.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION_KEY,
    Migrated,
    Migration,
    SchemaError,
    migrate,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["DatabaseUnreachable", "PgConnection", "display_url"]

# pg_advisory_lock's key for "migrating the schema": any constant, the same in every replica
# (the bytes of "tg-sim-m" as a big-endian bigint).
_MIGRATION_LOCK = int.from_bytes(b"tg-sim-m", "big") - (1 << 63)
# The one writer's lock: every transaction holds it (pg_advisory_xact_lock) from its start to its
# end, in every replica. See the module's docstring.
_WRITE_LOCK = int.from_bytes(b"tg-sim-w", "big") - (1 << 63)
# How long a replica waits for another one's migrations before it gives up starting.
_MIGRATION_WAIT_S = 60.0
_SCHEMES = ("postgresql://", "postgres://")


class DatabaseUnreachable(SchemaError):
    """The database URL is not one this store can use, or no server answers on it: a
    ``SchemaError``, so that ``serve`` prints its one line and exits 1 as for any database it
    cannot bring to its schema."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def display_url(url: str) -> str:
    """The URL without its password (logs, errors): ``postgresql://user@host:port/db``."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "the --database-url given"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host') or ''}{port}/{parts.get('dbname') or ''}"


def _holds_nul(args: Sequence[Any]) -> bool:
    return any(isinstance(arg, str) and "\x00" in arg for arg in args)


def _nul_check(sql: str, args: Sequence[Any]) -> bool:
    """Whether a statement can be answered without running: PostgreSQL's text holds no NUL
    (SQLite's does), so no stored key has one, and a statement keyed by one matches nothing, as
    a key never stored matches nothing on SQLite (a 404, not psycopg's DataError and a 500). A
    record with one (a user's name for it) cannot be stored at all: a 400."""
    if not _holds_nul(args):
        return False
    if sql.lstrip()[:6].upper() == "INSERT":
        raise InvalidRequest(
            "A name or id holding a NUL character (\\u0000) cannot be stored by this simulator "
            "(its PostgreSQL store keeps them as text)"
        )
    return True


def _busy(exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The simulator's database is busy or unreachable ({_one_line(exc)}). Nothing was "
        "changed: send the request again."
    )


def _configure(conn: psycopg.Connection[Any], *, lock_timeout: str) -> None:
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))


class PgConnection:
    def __init__(
        self,
        url: str,
        *,
        steps: Sequence[Migration] = MIGRATIONS,
        busy_wait: float = 1.0,
        pool_size: int = 10,
        pool_wait: float = 5.0,
        connect_timeout: int = 10,
    ) -> None:
        """Migrate the database to ``steps``, then open the pool. ``busy_wait``: how long a
        statement waits for a row lock before its 503; ``pool_wait``: how long a request waits
        for a free connection (the pool holds ``pool_size``). Raises ``DatabaseUnreachable`` for
        a bad URL or no server, ``SchemaError`` for a schema it cannot use."""
        if not url.startswith(_SCHEMES):
            raise DatabaseUnreachable(
                "--database-url must be a postgresql:// URL (unset: the SQLite file in --data-dir)"
            )
        import psycopg
        from psycopg_pool import ConnectionPool

        self.where = display_url(url)
        self._local = threading.local()
        self.busy_wait = busy_wait
        self.pool_wait = pool_wait
        self.migrated = self._migrate(url, steps, connect_timeout)
        lock_timeout = f"{max(1, round(busy_wait * 1000))}ms"
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            kwargs={"autocommit": True, "connect_timeout": connect_timeout},
            # A row lock held past this (someone's open transaction) is a 503, not a hang. A SET
            # rather than the ``options`` startup parameter, which PgBouncer refuses.
            configure=functools.partial(_configure, lock_timeout=lock_timeout),
            min_size=1,
            max_size=pool_size,
            timeout=pool_wait,
            open=False,
            name="together-sim",
        )
        try:
            self.pool.open(wait=True, timeout=connect_timeout)
        except psycopg.Error as exc:
            self.pool.close()
            raise DatabaseUnreachable(f"{self.where}: {_one_line(exc)}") from None

    def _migrate(self, url: str, steps: Sequence[Migration], connect_timeout: int) -> Migrated:
        import psycopg

        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
        except psycopg.Error as exc:  # a malformed URL (ProgrammingError) or no server
            raise DatabaseUnreachable(f"{self.where}: {_one_line(exc)}") from None
        with conn:
            conn.execute(f"SET lock_timeout = '{round(_MIGRATION_WAIT_S)}s'")
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            except psycopg.errors.LockNotAvailable:
                raise SchemaError(
                    f"{self.where}: another together-sim has been migrating this database for "
                    f"over {_MIGRATION_WAIT_S:.0f} s"
                ) from None
            conn.execute("SET lock_timeout = 0")
            try:
                # The lock is the session's: it goes with the connection if that breaks.
                return migrate(_Migrating(conn), where=self.where, steps=steps)
            except psycopg.OperationalError as exc:  # the server went away mid-way
                raise DatabaseUnreachable(f"{self.where}: {_one_line(exc)}") from None
            finally:
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))

    # -- transactions -----------------------------------------------------------------------------

    def _held(self) -> psycopg.Connection[Any] | None:
        """This thread's transaction's connection, if it is in one."""
        held: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        return held

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._held() is not None:  # nested: part of the outer one, which alone commits
            yield
            return
        if must_not_wait():
            raise WouldBlock
        import psycopg

        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None
        except psycopg.OperationalError as exc:
            raise _busy(exc) from exc

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor on this thread's transaction's connection, or on a pooled one for this
        statement alone; busy or gone is a 503 either way."""
        import psycopg

        held = self._held()
        if held is None and must_not_wait():
            raise WouldBlock
        try:
            if held is not None:
                with held.cursor() as cursor:
                    yield cursor
            else:
                with self.pool.connection() as conn, conn.cursor() as cursor:
                    yield cursor
        except psycopg.OperationalError as exc:
            raise _busy(exc) from exc

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if _nul_check(sql, args):
            return []
        with self._cursor() as cursor:
            return cursor.execute(sql, args).fetchall()

    def write(self, sql: str, *args: Any) -> int:
        """One statement; its row count."""
        if _nul_check(sql, args):
            return 0
        with self._cursor() as cursor:
            return cursor.execute(sql, args).rowcount

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            _nul_check(sql, row)  # these are inserts: one with a NUL refuses them all
        with self._cursor() as cursor:
            cursor.executemany(sql, rows)

    def close(self) -> None:
        self.pool.close()


class _Migrating:
    """``migrations.Database`` on the migrations' own connection (autocommit, so each step's
    ``transaction()`` is a real one): DDL is transactional in PostgreSQL, so a step that fails
    half-way leaves nothing, its version stamp included."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def has_table(self, name: str) -> bool:
        found = self._conn.execute(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (name,),
        ).fetchone()
        return found is not None

    def execute(self, statement: str) -> None:
        self._conn.execute(statement.encode())  # as written: no placeholders in a step

    def read_version(self) -> str | None:
        row = self._conn.execute(
            "SELECT value FROM meta WHERE key = %s", (SCHEMA_VERSION_KEY,)
        ).fetchone()
        return None if row is None else str(row[0])

    def write_version(self, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (SCHEMA_VERSION_KEY, value),
        )
