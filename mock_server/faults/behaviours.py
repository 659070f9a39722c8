"""Job and file behaviours a scenario sets: a job that fails at a step, one stuck in a status, a
cancel that takes its time, an uploaded file that fails validation.

Each behaviour names the jobs (or files) it is for: by ``suffix`` or ``model`` glob, by tenant,
and with ``next: N`` only the next N that match (none of these: every one). It is applied once,
when the job is created (or the file validated), by the pure ``shape_job`` / ``shape_file``: a
job's timeline (``durations``) and its ``fault`` are part of the job, planned at creation and
stored with it, so the state machine (``fine_tuning/machine.py``) needs no new rule and a
restart keeps them.
``Behaviours`` holds the ones in force and counts down their ``next``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mock_server.files.models import FileRecord
from mock_server.fine_tuning.machine import inject_fault
from mock_server.fine_tuning.models import Fault, Job

__all__ = [
    "FOREVER",
    "Behaviours",
    "FileBehaviour",
    "JobBehaviour",
    "shape_file",
    "shape_job",
]

FOREVER = 100 * 365 * 86400.0  # "stuck" with no end: a century of simulated time

# The timeline phase that ends each status a job can be held in.
_PHASE = {"pending": "queue", "queued": "start", "compressing": "compress", "uploading": "upload"}


class FailAt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at_step: int = Field(ge=1)  # past the job's last step: it fails at its last step
    kind: Literal["error", "user_error"] = "error"
    message: str = "Simulated failure from a together-sim scenario"


class Stuck(BaseModel):
    # A duration past FOREVER, or an infinite one, would put the job's next move past the last
    # date a datetime can hold, and every read of the job would fail.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    status: Literal["pending", "queued", "compressing", "uploading"]
    seconds: float | None = Field(default=None, ge=0, le=FOREVER)  # None: until cancelled


class _Selector(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str | None = None
    tenant: str | None = None
    # Turned into ``tenant`` when the behaviour is put in force (``bound``), and dropped.
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    next: int | None = Field(default=None, ge=1)  # only the next N that match

    @model_validator(mode="after")
    def _key_or_tenant(self) -> Self:
        if self.api_key is not None and self.tenant is not None:
            raise ValueError("give api_key or tenant, not both")
        return self

    def bound(self, tenant_of: Callable[[str], str]) -> Self:
        """The behaviour as put in force: its ``api_key`` turned into the tenant it names under
        the server's secret, and forgotten."""
        if self.api_key is None:
            return self
        return self.model_copy(update={"tenant": tenant_of(self.api_key), "api_key": None})


class JobBehaviour(_Selector):
    suffix: str | None = None  # a glob on the job's suffix
    model: str | None = None  # a glob on the base model
    fail: FailAt | None = None
    stuck: Stuck | None = None
    # cancel_requested → cancelled
    cancel_seconds: float | None = Field(default=None, ge=0, le=FOREVER)

    @model_validator(mode="after")
    def _does_something(self) -> JobBehaviour:
        if self.fail is None and self.stuck is None and self.cancel_seconds is None:
            raise ValueError("a job behaviour needs fail, stuck or cancel_seconds")
        return self

    def selects(self, job: Job) -> bool:
        return (
            (self.tenant is None or self.tenant == job.tenant)
            and (self.suffix is None or fnmatchcase(job.suffix or "", self.suffix))
            and (self.model is None or fnmatchcase(job.model, self.model))
        )


class FileBehaviour(_Selector):
    filename: str | None = None  # a glob on the uploaded file's name
    invalid: str  # the validation error the file reports
    line: int | None = Field(default=None, ge=1)

    def selects(self, record: FileRecord) -> bool:
        return (self.tenant is None or self.tenant == record.tenant) and (
            self.filename is None or fnmatchcase(record.filename, self.filename)
        )


def shape_job(job: Job, behaviour: JobBehaviour, now: datetime) -> Job:
    """The job, just created, with the behaviour's timeline changes and planned failure."""
    durations = dict(job.durations)
    if behaviour.stuck is not None:
        seconds = behaviour.stuck.seconds
        durations[_PHASE[behaviour.stuck.status]] = FOREVER if seconds is None else seconds
    if behaviour.cancel_seconds is not None:
        durations["cancel"] = behaviour.cancel_seconds
    job = job.model_copy(update={"durations": durations})
    if behaviour.fail is not None:
        fail = behaviour.fail
        fault = Fault(
            kind=fail.kind, at_step=min(fail.at_step, job.total_steps), message=fail.message
        )
        job = inject_fault(job, fault, now).job
    return job


def shape_file(record: FileRecord, behaviour: FileBehaviour) -> FileRecord:
    """The file, just validated, failing validation with the behaviour's message."""
    report = dict(record.validation_report or {})
    report.update(
        valid=False,
        error=behaviour.invalid,
        error_type="INVALID_FORMAT",
        error_source="format",
        line_number=behaviour.line,
        message=behaviour.invalid,
    )
    return record.model_copy(
        update={"processing_status": "INVALID_FORMAT", "validation_report": report}
    )


class Behaviours:
    """The behaviours in force. Like the fault rules, kept in memory with a baseline (a startup
    scenario's) that ``reset`` returns to; what they did to a job is stored with the job."""

    def __init__(self, *, tenant_of: Callable[[str], str]) -> None:
        self.tenant_of = tenant_of  # the server's: an api_key names the tenant the routes see
        self._baseline: tuple[JobBehaviour | FileBehaviour, ...] = ()
        self._active: list[tuple[JobBehaviour | FileBehaviour, list[int]]] = []
        self._lock = threading.Lock()

    def add(
        self, behaviour: JobBehaviour | FileBehaviour | Mapping[str, Any]
    ) -> JobBehaviour | FileBehaviour:
        if isinstance(behaviour, Mapping):
            kind = FileBehaviour if "invalid" in behaviour else JobBehaviour
            behaviour = kind.model_validate(dict(behaviour))
        behaviour = behaviour.bound(self.tenant_of)
        with self._lock:
            if behaviour.id is None:
                behaviour = behaviour.model_copy(update={"id": f"b{len(self._active) + 1}"})
            self._active.append((behaviour, [behaviour.next or 0]))
        return behaviour

    def listed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    **b.model_dump(mode="json", exclude_defaults=True),
                    "id": b.id,
                    "kind": "file" if isinstance(b, FileBehaviour) else "job",
                    "remaining": left[0] if b.next else None,
                }
                for b, left in self._active
            ]

    def clear(self) -> None:
        with self._lock:
            self._active = []

    def set_baseline(self, behaviours: Iterable[JobBehaviour | FileBehaviour]) -> None:
        self._baseline = tuple(b.bound(self.tenant_of) for b in behaviours)  # no key kept
        self.reset()

    def reset(self) -> None:
        self.clear()
        for behaviour in self._baseline:
            self.add(behaviour)

    def _take(self, kind: type[JobBehaviour] | type[FileBehaviour], item: Any) -> list[Any]:
        """The behaviours of ``kind`` that select ``item``, counting down their ``next``."""
        chosen = []
        with self._lock:
            for behaviour, left in self._active:
                if not isinstance(behaviour, kind) or not behaviour.selects(item):
                    continue
                if behaviour.next is not None:
                    if left[0] == 0:
                        continue
                    left[0] -= 1
                chosen.append(behaviour)
        return chosen

    def new_job(self, job: Job, now: datetime) -> Job:
        for behaviour in self._take(JobBehaviour, job):
            job = shape_job(job, behaviour, now)
        return job

    def validated_file(self, record: FileRecord) -> FileRecord:
        for behaviour in self._take(FileBehaviour, record):
            record = shape_file(record, behaviour)
        return record
