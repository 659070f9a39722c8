"""The storage interface for records. Methods are named for the domain; records come back as
frozen models, and a missing one raises ``NotFound`` rather than returning ``None``, so no route
builds a 404. Records only: bytes are a ``BlobStore``'s (``blobs.py``), which the services that
read or write them are handed, so a store on another database needs no file system of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from mock_server.core.errors import Conflict
from mock_server.files.models import FileRecord, UploadSession
from mock_server.fine_tuning.events import Checkpoint, Event, Metric
from mock_server.fine_tuning.models import Job, Transition

__all__ = ["Store", "UnreadableRecord"]


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

    def reset(self) -> None:
        """Forget every record; meta survives, the schema version with it. Bytes are not the
        store's: ``Controls.reset`` clears the blob store beside it."""

    def close(self) -> None: ...
