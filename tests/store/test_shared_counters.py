"""What replicas on one database count and keep together, on every store (conftest.py): meta
counters and once-made values, a job's row version, and the controls' rows (fault rules,
behaviours, the journal) with their counters. Two stores opened on one database stand for two
replicas; each of their threads for a request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from mock_server.core.tenancy import SECRET_FILE, Tenancy, load_secret
from mock_server.faults.journal import SharedJournal
from mock_server.fine_tuning.machine import advance, request_cancel
from mock_server.store import Store
from tests.builders import T0, make_job, pending_event
from tests.store.conftest import Backend

# -- meta -----------------------------------------------------------------------------------------


def test_a_meta_counter_starts_at_one_and_adds_what_it_is_given(store: Store) -> None:
    assert [store.increment_meta("generation") for _ in range(3)] == [1, 2, 3]
    assert store.increment_meta("generation", 10) == 13
    assert store.get_meta("generation") == "13"


def test_replicas_counting_at_once_each_get_a_number_of_their_own(backend: Backend) -> None:
    replicas = [backend.open(), backend.open()]
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda n: replicas[n % 2].increment_meta("generation"), range(200)))
    assert sorted(numbers) == list(range(1, 201))
    assert replicas[0].get_meta("generation") == "200"


def test_a_value_put_once_is_the_first_writers_for_everyone(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    assert first.put_meta_once("download_secret", "aaaa") == "aaaa"
    assert second.put_meta_once("download_secret", "bbbb") == "aaaa"
    assert second.get_meta("download_secret") == "aaaa"


def test_racing_to_make_a_value_all_end_with_the_same_one(backend: Backend) -> None:
    replicas = [backend.open(), backend.open()]
    with ThreadPoolExecutor(8) as pool:
        kept = set(pool.map(lambda n: replicas[n % 2].put_meta_once("secret", f"v{n}"), range(40)))
    assert len(kept) == 1
    assert replicas[1].get_meta("secret") in kept


# -- a job's row version --------------------------------------------------------------------------


def test_every_saved_move_of_a_job_adds_one_to_its_row_version(store: Store) -> None:
    job = make_job()
    assert store.job_version(job.id) is None
    store.create_job(job, [pending_event(job)])
    assert store.job_version(job.id) == 0
    moved = store.update_job(job.tenant, job.id, lambda j: advance(j, T0 + timedelta(seconds=40)))
    assert store.job_version(job.id) == 1
    store.update_job(job.tenant, job.id, lambda j: advance(j, T0 + timedelta(seconds=40)))
    assert store.job_version(job.id) == 1  # nothing moved: nothing saved
    store.save_transition(request_cancel(moved, T0 + timedelta(seconds=41)))
    assert store.job_version(job.id) == 2
    store.delete_job(job.tenant, job.id)
    assert store.job_version(job.id) is None


# -- the controls' rows ---------------------------------------------------------------------------


def test_controls_keep_their_order_and_a_replaced_one_keeps_its_place(store: Store) -> None:
    store.put_control("fault", "slow", {"latency": 1})
    store.put_control("fault", "busy", {"status": 503})
    store.put_control("behaviour", "b1", {"next": 1})
    store.count_control("fault", "slow", "seen")
    store.put_control("fault", "slow", {"latency": 2})  # replaced: in place, counters at 0
    listed = store.list_controls("fault")
    assert [(c.id, c.doc, c.seen, c.fired) for c in listed] == [
        ("slow", {"latency": 2}, 0, 0),
        ("busy", {"status": 503}, 0, 0),
    ]
    assert listed[0].seq < listed[1].seq
    assert [c.id for c in store.list_controls("behaviour")] == ["b1"]


def test_a_control_counts_across_replicas_and_a_gone_one_counts_nothing(
    backend: Backend,
) -> None:
    first, second = backend.open(), backend.open()
    first.put_control("fault", "f1", {"times": 2})
    with ThreadPoolExecutor(8) as pool:
        fired = list(
            pool.map(
                lambda n: (first, second)[n % 2].count_control("fault", "f1", "fired"), range(50)
            )
        )
    assert sorted(n for n in fired if n is not None) == list(range(1, 51))
    assert [(c.seen, c.fired) for c in second.list_controls("fault")] == [(0, 50)]
    assert second.delete_controls("fault", "f1") == 1
    assert first.count_control("fault", "f1", "seen") is None
    assert first.delete_controls("fault", "f1") == 0


def test_trimming_keeps_the_last_controls_of_a_kind(store: Store) -> None:
    for n in range(1, 8):
        store.put_control("journal", str(n), {"n": n})
    store.put_control("fault", "f1", {})
    assert store.trim_controls("journal", 3) == 4
    assert [c.id for c in store.list_controls("journal")] == ["5", "6", "7"]
    assert store.trim_controls("journal", 3) == 0
    assert store.delete_controls("journal") == 3
    assert [c.id for c in store.list_controls("fault")] == ["f1"]


def test_a_reset_leaves_the_controls_to_their_owners(store: Store) -> None:
    store.put_control("fault", "f1", {})
    store.reset()
    assert [c.id for c in store.list_controls("fault")] == ["f1"]


# -- the tenant secret ----------------------------------------------------------------------------


def test_replicas_on_other_hosts_share_the_tenant_secret_through_meta(
    backend: Backend, tmp_path: Path
) -> None:
    """Two data dirs (two hosts), one database: the first replica makes the secret, the second
    uses it, and a key is one tenant on both; neither writes a secret file of its own."""
    here, there = tmp_path / "host-a", tmp_path / "host-b"
    store = backend.open()
    first = Tenancy.in_data_dir(here, meta=store, shared=True)
    second = Tenancy.in_data_dir(there, meta=backend.open(), shared=True)
    assert first.tenant_of("key-1") == second.tenant_of("key-1")
    assert first.tenant_of("key-1") != first.tenant_of("key-2")
    assert not (here / SECRET_FILE).exists() and not (there / SECRET_FILE).exists()
    # A single server on that database later uses the same secret too.
    assert Tenancy.in_data_dir(tmp_path / "alone", meta=store).tenant_of("key-1") == (
        first.tenant_of("key-1")
    )


def test_a_data_dir_that_goes_shared_keeps_its_tenants(backend: Backend, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    alone = Tenancy.in_data_dir(data_dir, has_records=False)
    secret = load_secret(data_dir)
    shared = Tenancy.in_data_dir(data_dir, meta=backend.open(), shared=True, has_records=True)
    assert shared.tenant_of("key-1") == alone.tenant_of("key-1")
    assert backend.open().get_meta("tenant_secret") == secret.hex()


def test_the_shared_journal_keeps_its_bound_and_counts_what_it_dropped(backend: Backend) -> None:
    """Entries recorded through two replicas, numbered by one counter, bounded as one journal:
    past the bound, the oldest are left out (and trimmed now and then), and counted."""
    first, second = (SharedJournal(backend.open(), limit=3) for _ in range(2))
    for n in range(70):
        (first, second)[n % 2].record(
            request_id=f"req-{n}",
            at=T0,
            wall_time=0.0,
            method="GET",
            path="/v1/files",
            tenant=None,
            rule="f1" if n % 3 else "f2",
            fault="status",
            detail={"status": 503},
        )
    assert [e.seq for e in second.entries()] == [68, 69, 70]
    assert [e.request_id for e in first.entries(rule="f1")] == ["req-67", "req-68"]
    assert first.dropped == second.dropped == 67
    second.clear()
    assert (first.entries(), first.dropped) == ([], 0)
