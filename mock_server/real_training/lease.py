"""Job leases: whether this runner, among the replicas, may act on a real job.

Replicas (``serve --workers N``, or several servers on one database) each run a runner, and a job
must be trained by one of them only: a runner acts on a job (launches, relaunches, stops, fails
it) only while it holds the job's lease in the store (``Store.claim_job_lease``, one atomic
statement), renewed every ``ttl / 4`` while its worker trains. A runner that dies stops renewing;
once the lease expires another runner claims the job and relaunches it as after a restart, from
its last checkpoint. A runner that finds its lease taken (it stalled past ``ttl``) kills its
worker and drops what it still reports. Alone on its data dir, a runner's owner id is the same in
every process (``LOCAL``), so a restarted server takes its jobs back at once; replicas each have
their own (``replica_id``).

Apart from the runner because it is a protocol with the other replicas, not a step of a job: the
runner's thread asks it one question (may I act on this job now?) and learns which of its workers
it must kill, while the timing (when a held lease is due, how long a job held elsewhere is left
alone) and the owner's name stay here, testable without a worker or a thread.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from mock_server.store import Store

__all__ = ["LEASE_TTL", "LOCAL", "Held", "Leases", "replica_id"]

# Seconds a lease lasts unrenewed: how long a dead replica's jobs wait for another. Renewals come
# every quarter of it, so a runner thread held up (a locked database) for less keeps its jobs.
LEASE_TTL = 10.0
LOCAL = "local"  # the owner id of the one runner on a data dir no other process serves


def replica_id() -> str:
    """This process among the replicas: host and pid say where it ran, the random part keeps a
    recycled pid from inheriting a dead process's leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Held(Protocol):
    """A job whose lease this runner holds while its worker trains (the runner's worker)."""

    @property
    def job_id(self) -> str: ...

    renewed: float  # when its lease was last claimed (the lease clock's time)
    lost: bool  # its lease went to another runner: what it reports is dropped


_H = TypeVar("_H", bound=Held)


@dataclass(eq=False)
class Leases:
    """One runner's leases, in ``owner``'s name."""

    store: Store
    owner: str = LOCAL
    ttl: float = LEASE_TTL
    clock: Callable[[], float] = time.time  # wall-clock seconds, the same on every replica
    # Jobs another runner holds: not claimed again before this time (the lease clock's), so a
    # replica does not write a claim every tick for each job trained elsewhere.
    _elsewhere: dict[str, float] = field(default_factory=dict)

    def claim(self, job_id: str) -> bool:
        """Whether this runner holds ``job_id``'s lease now (claimed or renewed)."""
        now = self.clock()
        if self._elsewhere.get(job_id, now) > now:
            return False
        if self.store.claim_job_lease(job_id, self.owner, now=now, ttl=self.ttl):
            self._elsewhere.pop(job_id, None)
            return True
        self._elsewhere[job_id] = now + self.ttl / 4
        return False

    def renew(self, held: Iterable[_H]) -> list[_H]:
        """The heartbeat: each held lease claimed again every quarter of its life. The ones that
        went to another runner meanwhile (this one stalled past the ttl) come back, marked lost:
        their jobs are not ours to train, and their workers must go."""
        now = self.clock()
        lost: list[_H] = []
        for job in held:
            if job.lost or now - job.renewed < self.ttl / 4:
                continue
            if self.claim(job.job_id):
                job.renewed = now
                continue
            job.lost = True
            lost.append(job)
        return lost

    def release(self, job_id: str) -> None:
        self._elsewhere.pop(job_id, None)
        self.store.release_job_lease(job_id, self.owner)
