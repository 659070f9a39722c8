"""Stateful resource families, defined as data and kept in the store's generic resource table.

A ``Family`` says what a kind of resource is: its store kind, the spec operation whose success
body a record renders as, how ids are made, which field may name it instead of its id, and the
lifecycle of its status field (``core/lifecycle.py``). ``Resources`` is the one service every
family uses (``families/routes.py`` builds the routes; ``families/`` holds the families): create,
find, list, update, move along the lifecycle, delete, render; with the other services a family
calls (files, fine-tuning jobs, endpoints, inference) handed in by ``app.py``.

A new record's body is built, in order, from

1. the spec's response schema, synthesized (``synth.py``) and cut to its required and constant
   fields, so a body is schema-valid before anything is said about it (``object: "secret"``);
2. the request's fields that the response schema has, where valid for it (what was asked for
   comes back: a deployment's ``image``, a volume's ``content``);
3. the server-owned fields the family adds (``created_by``, ``desired_replicas``...), then the id
   and ``created_at`` / ``updated_at`` where the schema has them, in its format (date-time text,
   or unix seconds where it says number).

The status is never stored: it comes from the record's ``Progress`` and the clock, and a family's
``view`` adds what depends on the moment (replicas ready, results once completed); so reads do not
write (an evaluation's results file, written on the first read that sees it completed, is the one
exception). A request reads one instant throughout (``moment()``). Records are per tenant, survive
restarts (SQLite) and go with ``/_sim/reset``.

The small API, for a new family: define ``Family(kind, schema, new_id, ...)``; in its actions call
``resources.create(family, tenant, request=body, fields={...})``, ``get(family, tenant, ref,
param=...)``, ``list``, ``update``, ``move``, ``delete`` and return ``render(family, record)``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mock_server.core.errors import NotFound
from mock_server.core.ids import IdSource
from mock_server.core.lifecycle import Lifecycle, Progress, apply, begin, status_at
from mock_server.core.timefmt import iso, parse_iso, unix
from mock_server.spec.index import OperationIndex
from mock_server.spec.schemas import Schema

if TYPE_CHECKING:
    from mock_server.core.clock import Clock
    from mock_server.endpoints.service import EndpointService
    from mock_server.files.service import FileService
    from mock_server.fine_tuning.service import FineTuning
    from mock_server.inference.service import Inference
    from mock_server.store import BlobStore, Store

__all__ = ["Family", "Record", "Resources", "View", "accepted", "prefixed", "stamp"]

View = Callable[["Resources", "Record", dict[str, Any]], dict[str, Any]]

# The moment a request is served at (``Resources.moment``): per thread and task, as a ContextVar.
_MOMENT: ContextVar[datetime | None] = ContextVar("together_sim_moment", default=None)


def prefixed(prefix: str) -> Callable[[IdSource], str]:
    """Ids as ``<prefix>-<uuid4>``, from the seeded source."""

    def new_id(ids: IdSource) -> str:
        return f"{prefix}-{ids.uuid()}"

    return new_id


@dataclass(frozen=True)
class Family:
    kind: str  # the store's kind
    schema: str  # "GET /deployments/secrets/{id}": the body a record renders as
    new_id: Callable[[IdSource], str]
    id_field: str = "id"
    name_field: str | None = None  # "by ID or name": this field may stand for the id
    lifecycle: Lifecycle | None = None
    status_field: str = "status"
    view: View | None = None  # the fields that depend on the moment of the read
    name: str = ""  # the noun in messages; by default the kind's ("shared_volume": "Shared volume")

    @property
    def noun(self) -> str:
        return self.name or self.kind.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Record:
    id: str
    tenant: str
    created_at: datetime
    body: dict[str, Any]  # the spec's fields as stored (the status is derived, never stored)
    progress: Progress | None = None
    private: dict[str, Any] = field(default_factory=dict)  # never rendered (a secret's value)
    seq: int = 0  # the order of creation, which orders records made at the same instant

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "created_at": iso(self.created_at),
            "body": self.body,
            "progress": self.progress.to_json() if self.progress else None,
            "private": self.private,
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Record:
        progress = doc.get("progress")
        return cls(
            id=doc["id"],
            tenant=doc["tenant"],
            created_at=parse_iso(doc["created_at"]),
            body=dict(doc["body"]),
            progress=Progress.from_json(progress) if progress else None,
            private=dict(doc.get("private") or {}),
            seq=int(doc.get("seq", 0)),
        )

    def replace(self, **changes: Any) -> Record:
        return dataclasses.replace(self, **changes)


def _properties(schema: Schema) -> dict[str, Schema]:
    properties: dict[str, Schema] = schema.get("properties", {})
    return properties


def accepted(request: Mapping[str, Any] | None, schema: Schema) -> dict[str, Any]:
    """The request's fields that ``schema`` has, where each value is valid for its field."""
    from mock_server.spec.validate import is_valid

    properties = _properties(schema)
    return {
        name: value
        for name, value in (request or {}).items()
        if name in properties and value is not None and is_valid(value, properties[name])
    }


def stamp(schema: Schema, name: str, moment: datetime) -> dict[str, Any]:
    """``{name: moment}`` in the format the schema gives the field, or ``{}`` if it has none."""
    sub = _properties(schema).get(name)
    if sub is None:
        return {}
    kinds = sub.get("type")
    numeric = kinds in ("number", "integer") or (isinstance(kinds, list) and "number" in kinds)
    return {name: unix(moment) if numeric else iso(moment)}


def _skeleton(schema: Schema) -> dict[str, Any]:
    from mock_server.spec.synth import synthesize

    value = synthesize(schema)
    if not isinstance(value, dict):
        return {}
    required = set(schema.get("required", ()))
    properties = _properties(schema)
    return {
        name: item
        for name, item in value.items()
        if name in required or "const" in properties.get(name, {})
    }


class Resources:
    """The families' service: the store, blob store, clock and ids, the spec's schemas (``index``
    loads the spec's index on first use, not at startup), and the services families call."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        clock: Clock,
        ids: IdSource,
        index: Callable[[], OperationIndex],
        *,
        speed: float,
        account: str,
        files: FileService,
        jobs: FineTuning,
        endpoints: EndpointService,
        inference: Inference,
    ) -> None:
        self.store = store
        self.blobs = blobs  # files' bytes: batch inputs and outputs, evaluation results
        self.clock = clock
        self.ids = ids
        self._index = index
        self.speed = speed  # the timeline's: walks are scaled by it
        self.account = account
        self.files = files
        self.jobs = jobs
        self.endpoints = endpoints
        self.inference = inference
        self._schemas: dict[str, Schema] = {}
        self._changing = threading.RLock()

    @property
    def index(self) -> OperationIndex:
        return self._index()

    def now(self) -> datetime:
        """The clock's time, or the request's moment inside ``moment()``."""
        return _MOMENT.get() or self.clock.now()

    @contextmanager
    def moment(self) -> Iterator[datetime]:
        """One instant for everything a request does: a create answers its first state even on
        the instant clock, where any later read sees the walk already over."""
        token = _MOMENT.set(self.clock.now())
        try:
            yield self.now()
        finally:
            _MOMENT.reset(token)

    @contextmanager
    def changing(self) -> Iterator[None]:
        """One change to the families' records at a time. An action reads a record and writes it
        back (``update``, ``move``), and actions run in worker threads: two at once on one record
        would each write over what the other did. Reads need no turn."""
        with self._changing:
            yield

    def schema(self, key: str, status: str | None = None) -> Schema:
        """The JSON schema of operation ``key`` (``"GET /jobs/{jobId}"``) for ``status``, by
        default its documented success."""
        cache_key = f"{key} {status}"
        if cache_key not in self._schemas:
            method, path = key.split(" ", 1)
            op = self.index.by_key(method, path)
            reply = op.reply_for(int(status)) if status else op.success
            content = reply.content if reply else {}
            self._schemas[cache_key] = content.get("application/json") or {}
        return self._schemas[cache_key]

    # -- records ----------------------------------------------------------------------------------

    def create(
        self,
        family: Family,
        tenant: str,
        *,
        request: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
        private: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        id_: str | None = None,
    ) -> Record:
        """A new record, saved. Without ``progress`` it starts on its lifecycle's walk now."""
        schema = self.schema(family.schema)
        now = self.now()
        record_id = id_ or family.new_id(self.ids)
        body = {**_skeleton(schema), **accepted(request, schema), **(fields or {})}
        body[family.id_field] = record_id
        body.update(stamp(schema, "created_at", now))
        body.update(stamp(schema, "updated_at", now))
        life = family.lifecycle
        if progress is None and life is not None:
            progress = begin(life.steps, life.rest, now, self.speed)
        if progress is not None:  # the clock says the status; the skeleton's is a placeholder
            body.pop(family.status_field, None)
        with self.store.transaction():
            # One statement: replicas creating at once each get their own place in the order.
            seq = self.store.increment_meta("resource_seq")
            record = Record(record_id, tenant, now, body, progress, dict(private or {}), seq)
            self.save(family, record)
        return record

    def find(self, family: Family, tenant: str, ref: str) -> Record | None:
        """The record with id ``ref``, or with ``ref`` as its name where the family has one."""
        try:
            return Record.from_json(self.store.get_resource(family.kind, tenant, ref))
        except NotFound:
            pass
        if family.name_field is None:
            return None
        return next(
            (r for r in self.list(family, tenant) if r.body.get(family.name_field) == ref), None
        )

    def get(self, family: Family, tenant: str, ref: str, *, param: str) -> Record:
        record = self.find(family, tenant, ref)
        if record is None:
            raise NotFound(family.kind, ref, message=f"{family.noun} {ref} not found", param=param)
        return record

    def list(self, family: Family, tenant: str) -> list[Record]:
        """Oldest first."""
        records = [Record.from_json(d) for d in self.store.list_resources(family.kind, tenant)]
        return sorted(records, key=lambda r: (r.created_at, r.seq))

    def save(self, family: Family, record: Record) -> None:
        self.store.put_resource(
            family.kind, record.tenant, record.id, record.to_json(), record.created_at
        )

    def update(
        self,
        family: Family,
        record: Record,
        *,
        request: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
        private: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> Record:
        """The request's fields (valid for the response schema) and ``fields`` over the body,
        ``updated_at`` moved to now; saved."""
        schema = self.schema(family.schema)
        body = {**record.body, **accepted(request, schema), **(fields or {})}
        body.update(stamp(schema, "updated_at", self.now()))
        updated = record.replace(
            body=body,
            private={**record.private, **(private or {})},
            progress=progress or record.progress,
        )
        self.save(family, updated)
        return updated

    def move(self, family: Family, record: Record, move: str) -> Record:
        """A lifecycle move (``stop``, ``cancel``...) asked now; saved."""
        assert family.lifecycle is not None and record.progress is not None
        progress = apply(family.lifecycle, record.progress, move, self.now(), self.speed)
        if progress is record.progress:
            return record
        return self.update(family, record, progress=progress)

    def delete(self, family: Family, record: Record) -> None:
        self.store.delete_resource(family.kind, record.tenant, record.id)

    # -- reading ----------------------------------------------------------------------------------

    def status(self, record: Record, now: datetime | None = None) -> str | None:
        if record.progress is None:
            return None
        return status_at(record.progress, now or self.now())

    def render(self, family: Family, record: Record) -> dict[str, Any]:
        """The body as the spec shows it at this moment."""
        body = dict(record.body)
        status = self.status(record)
        if status is not None:
            body[family.status_field] = status
        return family.view(self, record, body) if family.view else body
