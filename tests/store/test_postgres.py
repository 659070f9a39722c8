"""What only the PostgreSQL store has to do: be two replicas at once on one database. What one
writes the other reads at once; read-then-update paths from threads of both lose nothing and
number nothing twice; the schema is migrated once when both open at once; and a busy or
unreachable database is a 503 to retry (or, at startup, one line), never a 500 or a hang. The
behaviour both stores share is ``test_sqlite.py``'s, run on each."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest

from mock_server.cli import _parser, main
from mock_server.cli_flags import given_settings
from mock_server.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from mock_server.core.offload import WouldBlock, loop_first, must_not_wait
from mock_server.fine_tuning.events import Event, EventType
from mock_server.fine_tuning.models import Job, Transition
from mock_server.settings import Settings
from mock_server.store.migrations import LATEST, MIGRATIONS, Migration, SchemaError
from mock_server.store.postgres import DatabaseUnreachable, PostgresStore
from mock_server.testing.postgres import Cluster
from tests.builders import T0, make_file, make_job, pending_event

# No server listens on port 1: connecting is refused at once.
NOWHERE = "postgresql://postgres:s3cret@127.0.0.1:1/together"


@pytest.fixture
def url(postgres_cluster: Cluster) -> Iterator[str]:
    url = postgres_cluster.create_database()
    yield url
    postgres_cluster.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def replicas(url: str, tmp_path: Path) -> Iterator[Callable[..., PostgresStore]]:
    """Opens a store on the test's database, each with a data dir of its own, as replicas on
    two hosts would be; all closed after the test."""
    opened: list[PostgresStore] = []

    def open_replica(**options: Any) -> PostgresStore:
        store = PostgresStore(url, tmp_path / f"replica-{len(opened)}", **options)
        opened.append(store)
        return store

    yield open_replica
    for store in opened:
        store.close()


def _bump(job: Job) -> Transition:
    """One more on the job's counter, with an event saying which: a read-then-update that loses
    a count if two writers start from the same job."""
    count = job.token_count + 1
    return Transition(
        job.model_copy(update={"token_count": count}),
        events=[Event(created_at=T0, type=EventType.job_pending, message=f"count {count}")],
    )


# -- two replicas ---------------------------------------------------------------------------------


def test_what_one_replica_writes_the_other_reads_at_once(replicas) -> None:
    a, b = replicas(), replicas()
    a.put_file(make_file())
    job = make_job()
    a.create_job(job, [pending_event(job)])
    a.put_resource("endpoint", "tenant-a", "e-1", {"state": "PENDING"}, T0)
    a.set_meta("clock_offset", "60.0")

    assert b.get_file("tenant-a", make_file().id) == make_file()
    assert b.get_job("tenant-a", job.id) == job
    assert b.list_events(job.id) == [pending_event(job)]
    assert b.get_resource("endpoint", "tenant-a", "e-1") == {"state": "PENDING"}
    assert b.get_meta("clock_offset") == "60.0"
    b.delete_job("tenant-a", job.id)
    with pytest.raises(NotFound):
        a.get_job("tenant-a", job.id)


def test_updates_from_threads_of_two_replicas_lose_no_count_and_number_no_event_twice(
    replicas,
) -> None:
    a, b = replicas(), replicas()
    job = make_job(token_count=0)
    a.create_job(job, [pending_event(job)])
    start = threading.Barrier(8)

    def bump(store: PostgresStore) -> None:
        start.wait()
        for _ in range(10):
            store.update_job("tenant-a", job.id, _bump)

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(bump, store) for store in (a, b) * 4]:
            future.result()

    assert a.get_job("tenant-a", job.id).token_count == 80
    messages = [e.message for e in b.list_events(job.id)][1:]
    assert sorted(messages) == sorted(f"count {n}" for n in range(1, 81))
    assert messages == [f"count {n}" for n in range(1, 81)]  # in the order they were counted
    assert a.job_version(job.id) == 80


def test_a_file_two_replicas_delete_at_once_is_returned_to_one_of_them(replicas) -> None:
    a, b = replicas(), replicas()
    a.put_file(make_file())
    start = threading.Barrier(2)

    def delete(store: PostgresStore) -> str:
        start.wait()
        try:
            return store.delete_file("tenant-a", make_file().id).id
        except NotFound:
            return "not found"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(delete, (a, b)))
    assert outcomes == sorted([make_file().id, "not found"])


def test_of_two_replicas_claiming_one_lease_at_once_exactly_one_holds_it(replicas) -> None:
    a, b = replicas(), replicas()
    start = threading.Barrier(2)

    def claim(store: PostgresStore, owner: str) -> bool:
        start.wait()
        return store.claim_job_lease("ft-1", owner, now=1000.0, ttl=30.0)

    with ThreadPoolExecutor(2) as pool:
        won = list(pool.map(claim, (a, b), ("replica-a", "replica-b")))
    assert sorted(won) == [False, True]
    holder, loser = ("replica-a", b) if won[0] else ("replica-b", a)
    assert not loser.claim_job_lease("ft-1", "someone", now=1029.0, ttl=30.0)
    assert loser.claim_job_lease("ft-1", "someone", now=1030.0, ttl=30.0)  # it expired


def test_two_replicas_opening_a_new_database_at_once_migrate_it_once(replicas) -> None:
    # A slow last step, so that the second opens while the first is still migrating.
    slow = Migration(
        LATEST + 1,
        "labels, slowly",
        ("SELECT pg_sleep(0.3)", "CREATE TABLE labels (job_id TEXT NOT NULL)"),
    )
    start = threading.Barrier(2)

    def open_replica(_: int) -> tuple[int, ...]:
        start.wait()
        applied: tuple[int, ...] = replicas(steps=(*MIGRATIONS, slow)).migrated.applied
        return applied

    with ThreadPoolExecutor(2) as pool:
        applied = sorted(pool.map(open_replica, range(2)))
    assert applied == [(), tuple(range(1, LATEST + 2))]


def test_a_key_holding_nul_is_found_nowhere_and_a_record_named_with_one_is_a_400(
    replicas,
) -> None:
    """PostgreSQL's text holds no NUL, SQLite's does: a lookup by such a key is SQLite's 404 for
    a key never stored (never psycopg's DataError, a 500), and storing one is refused."""
    store = replicas()
    with pytest.raises(NotFound):
        store.get_job("tenant-a", "ft-\x00")
    with pytest.raises(NotFound):
        store.find_job_by_output_name("tenant-a", "sim-user/\x00")
    with pytest.raises(NotFound):
        store.delete_resource("secret", "tenant-a", "a\x00b")
    assert store.list_events("ft-\x00") == []
    with pytest.raises(InvalidRequest) as refused:
        store.put_resource("secret", "tenant-a", "a\x00b", {"value": "x"}, T0)
    assert refused.value.status == 400
    assert "NUL character" in refused.value.message
    assert store.list_resources("secret", "tenant-a") == []


# -- busy and unreachable -------------------------------------------------------------------------


def test_a_row_a_session_holds_past_the_wait_is_a_503_and_changes_nothing(
    replicas, url: str
) -> None:
    """A ``psql`` left in a transaction holding the job's row, as the SQLite tests' shell holds
    the file's lock: the move waits ``busy_wait`` (``lock_timeout``), then is refused whole."""
    import psycopg

    store = replicas(busy_wait=0.2)
    job = make_job(token_count=0)
    store.create_job(job, [pending_event(job)])
    with psycopg.connect(url) as psql:  # not autocommit: the SELECT opens a transaction
        psql.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", (job.id,))
        with pytest.raises(ServiceUnavailable, match="lock timeout"):
            store.update_job("tenant-a", job.id, _bump)
        psql.rollback()
    assert store.list_events(job.id) == [pending_event(job)]  # the refused move left nothing
    assert store.update_job("tenant-a", job.id, _bump).token_count == 1


def test_a_write_while_another_replica_is_in_a_transaction_waits_then_is_a_503(
    replicas,
) -> None:
    a, b = replicas(), replicas(busy_wait=0.2)
    job = make_job(token_count=0)
    a.create_job(job, [pending_event(job)])
    with a.transaction():  # an open transaction of another replica: one writer at a time
        a.update_job("tenant-a", job.id, _bump)
        with pytest.raises(ServiceUnavailable) as refused:
            b.update_job("tenant-a", job.id, _bump)
        assert b.get_job("tenant-a", job.id).token_count == 0  # reads go on meanwhile
    assert refused.value.status == 503
    assert refused.value.headers == {"retry-after": "1"}
    assert "busy or unreachable" in refused.value.message
    b.update_job("tenant-a", job.id, _bump)  # what a client's retry does
    assert b.get_job("tenant-a", job.id).token_count == 2


def test_no_free_connection_in_the_pool_in_time_is_a_503(replicas) -> None:
    store = replicas(pool_size=1, pool_wait=0.2)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(ServiceUnavailable, match="couldn't get a connection"):
            store.get_meta("generation")
    finally:
        release.set()
        thread.join()
    assert store.get_meta("generation") is None


def test_a_connection_the_server_drops_is_a_503_and_the_pool_replaces_it(
    replicas, url: str
) -> None:
    import psycopg

    store = replicas(pool_size=1)
    store.set_meta("k", "v")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(ServiceUnavailable, match="terminating connection"):
        store.get_meta("k")
    assert store.get_meta("k") == "v"  # a new connection, as a client's retry finds


def test_on_the_loop_every_call_is_handed_to_a_thread_before_it_waits(replicas) -> None:
    store = replicas()
    store.put_file(make_file())
    tries: list[object] = []

    @loop_first
    def handler() -> list[str]:
        try:
            files = [f.id for f in store.list_files("tenant-a")]
        except WouldBlock:
            tries.append(WouldBlock)
            raise
        tries.append("in a thread" if not must_not_wait() else "on the loop")
        return files

    assert anyio.run(handler) == [make_file().id]
    assert tries == [WouldBlock, "in a thread"]


def test_no_server_is_one_line_naming_the_database_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnreachable) as caught:
        PostgresStore(NOWHERE, tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, SchemaError)  # what serve prints as one line
    assert message.startswith("postgresql://postgres@127.0.0.1:1/together: ")
    assert "Connection refused" in message
    assert "\n" not in message and "s3cret" not in message


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://root@127.0.0.1/together", "--database-url must be a postgresql:// URL"),
        ("postgresql://127.0.0.1:1/x?nonsense=1", 'invalid URI query parameter: "nonsense"'),
        (NOWHERE, "Connection refused"),
    ],
)
def test_serve_on_a_database_it_cannot_reach_exits_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, said: str
) -> None:
    assert main(["serve", "--database-url", url, "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("together-sim: ") and said in err
    assert "s3cret" not in err


def test_the_database_url_comes_from_its_flag_or_variable_and_stays_out_of_reprs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOGETHER_SIM_DATABASE_URL", NOWHERE)
    from_env = Settings()
    assert from_env.database_url is not None
    assert from_env.database_url.get_secret_value() == NOWHERE
    assert "s3cret" not in repr(from_env)
    given = Settings(**given_settings(_parser().parse_args(["serve", "--database-url", "x"])))
    assert given.database_url is not None and given.database_url.get_secret_value() == "x"
    monkeypatch.delenv("TOGETHER_SIM_DATABASE_URL")
    assert Settings().database_url is None  # unset: the SQLite file
