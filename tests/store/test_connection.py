"""Another process holding the database's write lock (here: a second connection in
``BEGIN IMMEDIATE``, as an ``sqlite3`` shell left in a transaction would): a write waits a
moment and then is a 503 with ``retry-after``, changing nothing; reads go on meanwhile, a job
read that moves nothing needs no lock, and once the lock is let go everything is written."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest

from mock_server.core.errors import ServiceUnavailable
from mock_server.core.offload import WouldBlock, loop_first, must_not_wait
from mock_server.fine_tuning.machine import advance
from mock_server.fine_tuning.models import Job, Transition
from mock_server.store import SqliteStore, connection
from tests.builders import T0, make_file, make_job, pending_event


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path, busy_wait=0.2)
    yield s
    s.close()


@pytest.fixture
def other_process(store: SqliteStore) -> Iterator[sqlite3.Connection]:
    """A second connection to the same file, holding its write lock until the test lets go."""
    other = sqlite3.connect(store.data_dir / "together-sim.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


def test_a_write_while_another_process_holds_the_lock_is_a_503_to_retry(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    with pytest.raises(ServiceUnavailable) as refused:
        store.put_file(make_file())
    assert refused.value.status == 503
    assert refused.value.headers == {"retry-after": "1"}
    assert refused.value.body()["error"]["type"] == "server_error"
    assert "locked by another process" in refused.value.message
    other_process.execute("ROLLBACK")
    assert store.list_files("tenant-a") == []  # the refused write left nothing


def test_reads_go_on_while_another_process_holds_the_lock(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    other_process.execute("ROLLBACK")
    store.put_file(make_file())
    other_process.execute("BEGIN IMMEDIATE")
    assert [f.id for f in store.list_files("tenant-a")] == [make_file().id]
    assert store.get_meta("generation") is None


def test_the_write_goes_through_once_the_lock_is_let_go(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    with pytest.raises(ServiceUnavailable):
        store.set_meta("k", "refused")
    other_process.execute("COMMIT")
    store.set_meta("k", "kept")  # what a client's retry does
    assert store.get_meta("k") == "kept"


def test_a_waiting_writer_lets_this_process_read_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path, busy_wait=30)  # waits as long as the lock is held
    store.set_meta("k", "before")
    other = sqlite3.connect(store.data_dir / "together-sim.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    written, waiting = threading.Event(), threading.Event()

    def pause(seconds: float) -> None:  # the writer's pause between two tries
        waiting.set()
        time.sleep(seconds)

    monkeypatch.setattr(connection, "time", SimpleNamespace(monotonic=time.monotonic, sleep=pause))

    def write() -> None:
        store.set_meta("k", "after")
        written.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert waiting.wait(timeout=30)
    # The writer is waiting for the other process; this thread's reads are not held up by it
    # (the store's thread lock is let go between its tries).
    reads = [store.get_meta("k") for _ in range(20)]
    assert reads == ["before"] * 20
    assert not written.is_set()
    other.execute("COMMIT")  # the other process lets go: the waiting write goes in
    writer.join(timeout=30)
    other.close()
    assert written.is_set() and store.get_meta("k") == "after"
    store.close()


def test_a_job_read_that_moves_nothing_takes_no_write_lock(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    other_process.execute("ROLLBACK")
    job = make_job()
    store.create_job(job, [pending_event(job)])
    done = store.update_job("tenant-a", job.id, lambda j: advance(j, T0 + timedelta(days=1)))
    other_process.execute("BEGIN IMMEDIATE")
    # Ended: a read moves nothing, so it is answered while the lock is held elsewhere...
    assert (
        store.update_job("tenant-a", job.id, lambda j: advance(j, T0 + timedelta(days=2))) == done
    )


def test_a_job_read_that_moves_it_waits_for_the_lock_and_then_saves_the_move(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    other_process.execute("ROLLBACK")
    job = make_job()
    store.create_job(job, [pending_event(job)])
    other_process.execute("BEGIN IMMEDIATE")
    later = T0 + timedelta(days=1)
    with pytest.raises(ServiceUnavailable):  # ...one that moves it must write
        store.update_job("tenant-a", job.id, lambda j: advance(j, later))
    assert store.get_job("tenant-a", job.id) == job
    other_process.execute("COMMIT")
    moved = store.update_job("tenant-a", job.id, lambda j: advance(j, later))
    assert moved == advance(job, later).job == store.get_job("tenant-a", job.id)
    assert len(store.list_events(job.id)) == 1 + len(advance(job, later).events)


def test_a_move_made_under_the_lock_sees_a_write_that_came_in_between(
    store: SqliteStore,
) -> None:
    """``update_job`` reads, then moves again under the lock: what another writer saved between
    the two is what the move starts from, never overwritten by the first read's copy."""
    job = make_job()
    store.create_job(job, [pending_event(job)])
    later = T0 + timedelta(days=1)
    seen: list[str] = []

    def move(current: Job) -> Transition:
        seen.append(current.status.value)
        if len(seen) == 1:  # between the read and the write: another request moves the job
            store.update_job("tenant-a", job.id, lambda j: advance(j, later))
        return advance(current, later)

    store.update_job("tenant-a", job.id, move)
    assert seen[0] == "pending" and seen[-1] == "completed"
    events = [e.type for e in store.list_events(job.id)]
    assert len(events) == 1 + len(advance(job, later).events)  # each event once


def _on_the_loop(work: Callable[[], object]) -> object:
    """``work`` as a ``loop_first`` handler's first try runs it: on the loop, told not to wait."""
    seen: list[object] = []

    @loop_first
    def handler() -> None:
        if not must_not_wait():
            seen.append("retried in a thread")
            return
        try:
            seen.append(work())
        except WouldBlock:
            seen.append(WouldBlock)
            raise

    anyio.run(handler)
    return seen


def test_on_the_loop_a_write_another_process_locks_out_is_handed_to_a_thread_at_once(
    store: SqliteStore, other_process: sqlite3.Connection
) -> None:
    seen = _on_the_loop(lambda: store.put_file(make_file()))
    assert seen == [WouldBlock, "retried in a thread"]
    assert store.list_files(make_file().tenant) == []


def test_on_the_loop_a_write_waits_for_no_worker_thread_and_reads_go_on(
    store: SqliteStore,
) -> None:
    store.put_file(make_file())
    holding, release = threading.Event(), threading.Event()

    def worker() -> None:
        with store.transaction():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        holding.wait(10)
        assert _on_the_loop(lambda: store.put_file(make_file(id="file-2"))) == [
            WouldBlock,
            "retried in a thread",
        ]
        # a read needs neither lock: it is answered on the loop while the worker holds them
        assert _on_the_loop(lambda: [f.id for f in store.list_files(make_file().tenant)]) == [
            [make_file().id]
        ]
    finally:
        release.set()
        thread.join()
