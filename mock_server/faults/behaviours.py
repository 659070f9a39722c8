"""Job and file behaviours a scenario sets: a job that fails at a step, one stuck in a status, a
cancel that takes its time, an uploaded file that fails validation.

Each behaviour names the jobs (or files) it is for: by ``suffix`` or ``model`` glob, by tenant,
and with ``next: N`` only the next N that match (none of these: every one). It is applied once,
when the job is created (or the file validated), by the pure ``shape_job`` / ``shape_file``: a
job's timeline (``durations``) and its ``fault`` are part of the job, planned at creation and
stored with it, so the state machine (``fine_tuning/machine.py``) needs no new rule and a
restart keeps them.
``Behaviours`` holds the ones in force and counts down their ``next``: in memory for a single
server, in the store for replicas that share a database (controls of kind ``behaviour``, the
``fired`` counter counting what each ``next`` took across all of them, one atomic increment per
job or file it selects), as the fault rules are (``registry.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from mock_server.core.clock import CENTURY
from mock_server.core.lazy_model import LazyModel
from mock_server.core.shared import Coherence
from mock_server.faults.journal import loaded
from mock_server.files.models import FileRecord
from mock_server.fine_tuning.machine import inject_fault
from mock_server.fine_tuning.models import Fault, Job
from mock_server.store.base import Control, Store

__all__ = [
    "FOREVER",
    "Behaviours",
    "FileBehaviour",
    "JobBehaviour",
    "shape_file",
    "shape_job",
]

FOREVER = CENTURY  # "stuck" with no end

# The timeline phase that ends each status a job can be held in.
_PHASE = {"pending": "queue", "queued": "start", "compressing": "compress", "uploading": "upload"}


class FailAt(LazyModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at_step: int = Field(ge=1)  # past the job's last step: it fails at its last step
    kind: Literal["error", "user_error"] = "error"
    message: str = "Simulated failure from a together-sim scenario"


class Stuck(LazyModel):
    # A duration past FOREVER, or an infinite one, would put the job's next move past the last
    # date a datetime can hold, and every read of the job would fail.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    status: Literal["pending", "queued", "compressing", "uploading"]
    seconds: float | None = Field(default=None, ge=0, le=FOREVER)  # None: until cancelled


class _Selector(LazyModel):
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


Behaviour = JobBehaviour | FileBehaviour
BEHAVIOUR = "behaviour"  # the kind of a behaviour's control row
_BASELINE = "behaviours_baseline"


def _document(behaviour: Behaviour) -> dict[str, Any]:
    kind = "file" if isinstance(behaviour, FileBehaviour) else "job"
    return {"kind": kind, "behaviour": behaviour.model_dump(mode="json")}


def _active(control: Control) -> tuple[Behaviour, list[int]]:
    """A stored behaviour and what is left of its ``next``, counted by every replica."""
    kind = FileBehaviour if control.doc["kind"] == "file" else JobBehaviour
    behaviour = kind.model_validate(control.doc["behaviour"])
    return behaviour, [max(0, (behaviour.next or 0) - control.fired)]


class Behaviours:
    """The behaviours in force. Like the fault rules, kept with a baseline (a startup scenario's)
    that ``reset`` returns to, in memory or, given ``store`` and ``coherence``, shared with the
    replicas on the store's database; what they did to a job is stored with the job."""

    def __init__(
        self,
        *,
        tenant_of: Callable[[str], str],
        store: Store | None = None,
        coherence: Coherence | None = None,
    ) -> None:
        self.tenant_of = tenant_of  # the server's: an api_key names the tenant the routes see
        self._baseline: tuple[Behaviour, ...] = ()
        self._active: list[tuple[Behaviour, list[int]]] = []
        self._lock = threading.Lock()
        self._store, self._coherence = store, coherence
        if coherence is not None:
            if store is None:
                raise ValueError("shared behaviours need the store they are shared in")
            coherence.on_change(self._load)
            self._load()

    def _shared(self) -> tuple[Store, Coherence]:
        assert self._store is not None and self._coherence is not None
        return self._store, self._coherence

    def _stored(self) -> list[tuple[Behaviour, list[int]]]:
        store, _ = self._shared()
        return loaded(store.list_controls(BEHAVIOUR), _active, "behaviour")

    def _load(self) -> None:
        active = self._stored()
        with self._lock:
            self._active = active

    def _put(self, behaviour: Behaviour) -> Behaviour:
        """Inside a ``Coherence.change``: numbered after every replica's behaviours."""
        store, _ = self._shared()
        if behaviour.id is None:
            count = len(store.list_controls(BEHAVIOUR))
            behaviour = behaviour.model_copy(update={"id": f"b{count + 1}"})
        assert behaviour.id is not None
        store.put_control(BEHAVIOUR, behaviour.id, _document(behaviour))
        return behaviour

    def add(self, behaviour: Behaviour | Mapping[str, Any]) -> Behaviour:
        if isinstance(behaviour, Mapping):
            kind = FileBehaviour if "invalid" in behaviour else JobBehaviour
            behaviour = kind.model_validate(dict(behaviour))
        behaviour = behaviour.bound(self.tenant_of)
        if self._coherence is not None:
            with self._coherence.change():
                return self._put(behaviour)
        with self._lock:
            if behaviour.id is None:
                behaviour = behaviour.model_copy(update={"id": f"b{len(self._active) + 1}"})
            self._active.append((behaviour, [behaviour.next or 0]))
        return behaviour

    def listed(self) -> list[dict[str, Any]]:
        if self._coherence is not None:  # with what every replica took, as it is now
            active = self._stored()
        else:
            with self._lock:
                active = list(self._active)
        return [
            {
                **b.model_dump(mode="json", exclude_defaults=True),
                "id": b.id,
                "kind": "file" if isinstance(b, FileBehaviour) else "job",
                "remaining": left[0] if b.next else None,
            }
            for b, left in active
        ]

    def clear(self) -> None:
        if self._coherence is not None:
            store, coherence = self._shared()
            with coherence.change():
                store.delete_controls(BEHAVIOUR)
            return
        with self._lock:
            self._active = []

    def set_baseline(self, behaviours: Iterable[Behaviour]) -> None:
        """As ``Faults.set_baseline``: shared, a baseline the service already runs with is left
        as it is (with what its ``next`` counted)."""
        self._baseline = tuple(b.bound(self.tenant_of) for b in behaviours)  # no key kept
        if self._coherence is None:
            self.reset()
            return
        store, coherence = self._shared()
        marker = json.dumps([_document(b) for b in self._baseline])
        with coherence.change():
            if store.get_meta(_BASELINE) != marker:
                store.set_meta(_BASELINE, marker)
                self._reset_stored()

    def _reset_stored(self) -> None:
        store, _ = self._shared()
        store.delete_controls(BEHAVIOUR)
        for behaviour in self._baseline:
            self._put(behaviour)

    def reset(self) -> None:
        if self._coherence is not None:
            with self._coherence.change():
                self._reset_stored()
            return
        self.clear()
        for behaviour in self._baseline:
            self.add(behaviour)

    def _take(self, kind: type[JobBehaviour] | type[FileBehaviour], item: Any) -> list[Any]:
        """The behaviours of ``kind`` that select ``item``, counting down their ``next``."""
        chosen = []
        with self._lock:
            active = list(self._active)
        for behaviour, left in active:
            if not isinstance(behaviour, kind) or not behaviour.selects(item):
                continue
            if behaviour.next is not None and not self._count_down(behaviour, left):
                continue
            chosen.append(behaviour)
        return chosen

    def _count_down(self, behaviour: Behaviour, left: list[int]) -> bool:
        """Whether the behaviour has one of its ``next`` left, taking it if so."""
        assert behaviour.next is not None and behaviour.id is not None
        if self._coherence is None:
            with self._lock:
                if left[0] == 0:
                    return False
                left[0] -= 1
                return True
        store, _ = self._shared()
        taken = store.count_control(BEHAVIOUR, behaviour.id, "fired")  # every replica's
        if taken is None or taken > behaviour.next:
            return False
        left[0] = behaviour.next - taken
        return True

    def new_job(self, job: Job, now: datetime) -> Job:
        for behaviour in self._take(JobBehaviour, job):
            job = shape_job(job, behaviour, now)
        return job

    def validated_file(self, record: FileRecord) -> FileRecord:
        for behaviour in self._take(FileBehaviour, record):
            record = shape_file(record, behaviour)
        return record
