"""A runner's side of the job leases (``real_training/lease.py``), on one SQLite store: the
heartbeat renews a held lease every quarter of its life and hands back the ones another runner
took, and a job held elsewhere is not asked for again on every tick. Two ``Leases`` on one store
are two replicas; their clock is a number the test moves. ``test_replica_lease.py`` runs the same
through two apps and their runners."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mock_server.real_training.lease import Leases
from mock_server.store import SqliteStore

TTL = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass(eq=False)
class Trained:
    """A job a runner trains, as the heartbeat sees its worker."""

    job_id: str
    renewed: float
    lost: bool = False


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replicas(tmp_path: Path, clock: Clock) -> tuple[Leases, Leases]:
    store = SqliteStore(tmp_path)
    a = Leases(store, "replica-a", ttl=TTL, clock=clock)
    b = Leases(store, "replica-b", ttl=TTL, clock=clock)
    return a, b


def test_the_heartbeat_renews_a_held_lease_each_quarter_of_its_life(
    replicas: tuple[Leases, Leases], clock: Clock
) -> None:
    a, b = replicas
    assert a.claim("ft-1")
    job = Trained("ft-1", renewed=clock.now)
    clock.now = 102.0  # under ttl / 4 since the claim: nothing written
    assert a.renew([job]) == []
    assert job.renewed == 100.0
    clock.now = 103.0
    assert a.renew([job]) == []
    assert job.renewed == 103.0
    clock.now = 112.0  # the first claim would have expired at 110; the renewal holds to 113
    assert not b.claim("ft-1")


def test_a_lease_taken_while_its_runner_stalled_comes_back_lost_once(
    replicas: tuple[Leases, Leases], clock: Clock
) -> None:
    a, b = replicas
    assert a.claim("ft-1") and a.claim("ft-2")
    jobs = [Trained("ft-1", renewed=clock.now), Trained("ft-2", renewed=clock.now)]
    clock.now = 110.5  # a stalled past the ttl: b takes ft-1 before a's heartbeat runs again
    assert b.claim("ft-1")
    assert a.renew(jobs) == [jobs[0]]
    assert jobs[0].lost and not jobs[1].lost
    assert jobs[1].renewed == 110.5  # ft-2 was free to renew: still a's
    clock.now = 114.0
    assert a.renew(jobs) == []  # a lost lease is not claimed again, nor handed back twice
    assert b.claim("ft-1")


def test_a_job_held_elsewhere_is_asked_for_again_only_after_a_quarter_of_the_ttl(
    replicas: tuple[Leases, Leases], clock: Clock
) -> None:
    a, b = replicas
    assert b.claim("ft-1")
    assert not a.claim("ft-1")
    clock.now = 101.0
    b.release("ft-1")  # free in the store, but a does not ask before 102.5
    assert not a.claim("ft-1")
    clock.now = 102.5
    assert a.claim("ft-1")
    assert not b.claim("ft-1")
