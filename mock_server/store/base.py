"""The storage interface for records. Methods are named for the domain; records come back as
frozen models, and a missing one raises ``NotFound`` rather than returning ``None``, so no route
builds a 404. Records only: bytes are a ``BlobStore``'s (``blobs.py``), which the services that
read or write them are handed, so a store on another database needs no file system of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from mock_server.core.errors import Conflict
from mock_server.files.models import FileRecord, UploadSession
from mock_server.fine_tuning.events import Checkpoint, Event, Metric
from mock_server.fine_tuning.models import Job, Transition

__all__ = ["Control", "Counter", "Store", "UnreadableRecord"]

Counter = Literal["seen", "fired"]


@dataclass(frozen=True)
class Control:
    """One of the controls' shared records (``Store.put_control``): ``seq`` its place in its
    kind's order, ``seen`` and ``fired`` what replicas counted against it."""

    id: str
    seq: int
    doc: dict[str, Any]
    seen: int = 0
    fired: int = 0


class UnreadableRecord(Conflict):
    """A record is there but does not load (an older or broken write, a hand edit). A 409 in
    Together's body naming it, rather than a 500: the request was fine, and the server goes on
    serving everything else. Lists leave such a record out (and log it once)."""

    def __init__(self, kind: str, id_: str, why: str, *, deletable: bool = False) -> None:
        then = "; deleting it removes it" if deletable else ""
        super().__init__(
            f"{kind} {id_} is stored in a form this server cannot read ({why}); it is left out "
            f"of lists{then}",
            param="id",
            code="record_unreadable",
        )
        self.kind = kind
        self.id = id_


class Store(Protocol):
    """A record that does not load never fails a read of anything else: a list leaves it out
    (logging it once), reading it alone raises ``UnreadableRecord``, and a job can still be
    deleted."""

    # The folder the server's state lives in: the blob store is rooted there (app.py), and the
    # caches that hold no records (artifacts/, models/) sit beside it.
    data_dir: Path

    def transaction(self) -> AbstractContextManager[None]:
        """One all-or-nothing unit: a read-modify-write no other thread interleaves with, rolled
        back if the block raises. Re-entrant: a nested one joins the outermost, which alone
        commits, so a method that opens one can be called from inside another."""

    # meta
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def increment_meta(self, key: str, by: int = 1) -> int:
        """Add ``by`` to the integer kept under ``key`` (none kept: 0) and return the sum, in one
        statement (an upsert with ``RETURNING``): two processes counting at once each get a
        number of their own, where a read then a write would hand both the same one."""

    def put_meta_once(self, key: str, value: str) -> str:
        """Keep ``value`` under ``key`` unless a value is kept there already, in one statement,
        and return the value kept: of processes racing to make a secret, all use the first's."""

    # files

    def put_file(self, record: FileRecord) -> None: ...
    def get_file(self, tenant: str, file_id: str) -> FileRecord: ...
    def list_files(self, tenant: str) -> list[FileRecord]: ...
    def delete_file(self, tenant: str, file_id: str) -> FileRecord: ...
    def put_upload(self, session: UploadSession) -> None: ...
    def get_upload(self, file_id: str) -> UploadSession: ...
    def delete_upload(self, file_id: str) -> None: ...
    def list_upload_ids(self) -> list[str]:
        """The file ids of every upload in flight, any tenant's: whose parts startup keeps."""

    # fine-tuning jobs
    def create_job(self, job: Job, events: list[Event]) -> None: ...
    def get_job(self, tenant: str, job_id: str) -> Job: ...
    def find_job_anywhere(self, job_id: str) -> Job:
        """A job of any tenant: for the controls, which act outside tenants."""

    def find_job_by_output_name(self, tenant: str, name: str) -> Job: ...
    def list_jobs(self, tenant: str) -> list[Job]: ...
    def save_transition(self, transition: Transition) -> None: ...
    def update_job(self, tenant: str, job_id: str, move: Callable[[Job], Transition]) -> Job:
        """The job after ``move``, saved with what it made in one transaction. ``move`` is pure
        and may run more than once (a read first, again under the write lock if it moved)."""

    def delete_job(self, tenant: str, job_id: str) -> None: ...
    def job_version(self, job_id: str) -> int | None:
        """How many moves of the job have been saved (``save_transition`` adds one to the row's
        ``version``, 0 at creation); None without such a job. A job body kept in one process's
        memory is checked against it when other processes may have moved the job."""

    def list_events(self, job_id: str) -> list[Event]: ...
    def list_checkpoints(self, job_id: str) -> list[Checkpoint]: ...
    def list_metrics(
        self,
        job_id: str,
        *,
        step_from: int | None = None,
        step_to: int | None = None,
        logged_from: datetime | None = None,
        logged_to: datetime | None = None,
    ) -> list[Metric]: ...
    def iter_live_jobs(self, *, trainer: str | None = None) -> Iterator[Job]: ...
    def has_live_jobs(self, *, trainer: str) -> bool:
        """Whether any tenant has a live job with this trainer (cheap: asked at startup)."""

    def list_tenants(self) -> list[str]:
        """Every tenant with a file, job or resource, the most recently active first (for the
        dashboard, which looks across tenants as the controls do)."""

    # real-training leases (real_training/runner.py): which server process trains a real job.
    # ``now`` and the expiry are wall-clock seconds (``time.time()``) of the callers, not the
    # simulator's clock, which a manual clock may hold still.
    def claim_job_lease(self, job_id: str, owner: str, *, now: float, ttl: float) -> bool:
        """Hold ``job_id`` for ``owner`` until ``now + ttl`` if it is free, expired or already
        ``owner``'s (so a renewal is a claim too), in one atomic statement: True if ``owner``
        holds it now. Two owners claiming at once: exactly one gets True."""

    def release_job_lease(self, job_id: str, owner: str) -> None:
        """Let go of ``owner``'s lease (another owner's is left alone)."""

    # resources: records of any other kind (endpoints, ...), JSON documents keyed by kind, tenant
    # and id (an id may be a user's own name, so two tenants may both use it)
    def put_resource(
        self, kind: str, tenant: str, id_: str, body: dict[str, Any], created_at: datetime
    ) -> None:
        """Insert or replace; ``created_at`` orders ``list_resources``."""

    def get_resource(self, kind: str, tenant: str, id_: str) -> dict[str, Any]: ...
    def list_resources(self, kind: str, tenant: str) -> list[dict[str, Any]]:
        """The tenant's records of one kind, oldest first."""

    def delete_resource(self, kind: str, tenant: str, id_: str) -> dict[str, Any]:
        """Remove a record and return what it held."""

    # controls: the simulator's own state that replicas share (fault rules, behaviours, the
    # journal; migration step 2), JSON documents of a kind in the order they were first put,
    # each with two counters that only ``count_control`` moves
    def put_control(self, kind: str, id_: str, doc: dict[str, Any]) -> int:
        """Put a control last in its kind's order, or replace the one with its id where it
        stands; either way its counters start at 0. Returns its place (``Control.seq``)."""

    def list_controls(self, kind: str) -> list[Control]:
        """A kind's controls in order."""

    def count_control(self, kind: str, id_: str, counter: Counter) -> int | None:
        """Add one to a control's counter and return the sum, in one statement, so that replicas
        counting at once never both see the same number; None when the control is gone."""

    def delete_controls(self, kind: str, id_: str | None = None) -> int:
        """Remove one control of a kind (``id_``), or all of them; how many went."""

    def trim_controls(self, kind: str, keep: int) -> int:
        """Remove all but the last ``keep`` controls of a kind; how many went."""

    def reset(self) -> None:
        """Forget every record; meta survives, the schema version with it, and so do the
        controls, which their owners put back to their baseline (``Faults.reset``). Bytes are
        not the store's: ``Controls.reset`` clears the blob store beside it."""

    def close(self) -> None: ...
