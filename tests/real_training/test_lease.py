"""The lease a real-training runner holds on a job (``Store.claim_job_lease``): one owner at a
time, renewed by claiming again, free again once expired or released, and one winner when two
processes claim at once; on every store (``tests/store/conftest.py``'s ``backend``: SQLite, and
PostgreSQL in the session's throwaway cluster). ``now`` is a number the test chooses: the lease
clock is the callers'."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from mock_server.store import Store
from tests.builders import make_job
from tests.store.conftest import Backend, backend  # noqa: F401  (the fixture, for this module)

TTL = 10.0


@pytest.fixture
def store(backend: Backend) -> Store:  # noqa: F811
    return backend.open()


def test_a_free_job_goes_to_the_first_owner_and_not_to_a_second(store: Store) -> None:
    assert store.claim_job_lease("ft-1", "replica-a", now=100.0, ttl=TTL)
    assert not store.claim_job_lease("ft-1", "replica-b", now=105.0, ttl=TTL)
    assert store.claim_job_lease("ft-2", "replica-b", now=105.0, ttl=TTL)  # leases are per job


def test_the_owner_renews_its_lease_by_claiming_it_again(store: Store) -> None:
    assert store.claim_job_lease("ft-1", "replica-a", now=100.0, ttl=TTL)
    assert store.claim_job_lease("ft-1", "replica-a", now=108.0, ttl=TTL)  # until 118 now
    assert not store.claim_job_lease("ft-1", "replica-b", now=115.0, ttl=TTL)
    assert store.claim_job_lease("ft-1", "replica-b", now=118.0, ttl=TTL)


def test_an_expired_lease_goes_to_the_next_owner_and_the_old_one_cannot_renew_it(
    store: Store,
) -> None:
    assert store.claim_job_lease("ft-1", "replica-a", now=100.0, ttl=TTL)
    assert store.claim_job_lease("ft-1", "replica-b", now=110.5, ttl=TTL)  # a stopped renewing
    assert not store.claim_job_lease("ft-1", "replica-a", now=111.0, ttl=TTL)
    assert store.claim_job_lease("ft-1", "replica-b", now=115.0, ttl=TTL)


def test_a_released_lease_is_free_at_once_and_only_its_owner_releases_it(
    store: Store,
) -> None:
    assert store.claim_job_lease("ft-1", "replica-a", now=100.0, ttl=TTL)
    store.release_job_lease("ft-1", "replica-b")  # not b's: nothing happens
    assert not store.claim_job_lease("ft-1", "replica-b", now=101.0, ttl=TTL)
    store.release_job_lease("ft-1", "replica-a")
    assert store.claim_job_lease("ft-1", "replica-b", now=101.0, ttl=TTL)


def test_deleting_the_job_or_resetting_the_store_frees_its_lease(store: Store) -> None:
    job = make_job()
    store.create_job(job, [])
    assert store.claim_job_lease(job.id, "replica-a", now=100.0, ttl=TTL)
    store.delete_job(job.tenant, job.id)
    assert store.claim_job_lease(job.id, "replica-b", now=101.0, ttl=TTL)
    store.reset()
    assert store.claim_job_lease(job.id, "replica-c", now=102.0, ttl=TTL)


def test_owners_claiming_at_once_from_two_connections_get_one_winner_per_job(
    backend: Backend,  # noqa: F811
) -> None:
    """Two stores on one database are two processes' connections: each claims every job at the
    same moment, and each job has exactly one owner after."""
    jobs = [f"ft-{n}" for n in range(40)]
    # SQLite's writers queue on its one lock: time enough for the other's 40 claims
    options: dict[str, Any] = {"busy_wait": 10.0} if backend.name == "sqlite" else {}
    stores = {owner: backend.open(**options) for owner in ("replica-a", "replica-b")}
    won: dict[str, list[str]] = {owner: [] for owner in stores}
    start = threading.Barrier(len(stores))

    def claim_all(owner: str) -> None:
        start.wait()
        for job_id in jobs:
            if stores[owner].claim_job_lease(job_id, owner, now=100.0, ttl=TTL):
                won[owner].append(job_id)

    threads = [threading.Thread(target=claim_all, args=(owner,)) for owner in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won["replica-a"] + won["replica-b"]) == sorted(jobs)
    assert not set(won["replica-a"]) & set(won["replica-b"])
