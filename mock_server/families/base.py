"""What a family module declares, and the standard operations every family shares.

A family module lists its spec operations as ``Operation(key, action)``: ``key`` is the method and
path as the spec writes them (``"GET /deployments/secrets/{id}"``), ``action`` a function of the
``Resources`` service and a ``Call`` (the caller's tenant and the request, already checked against
the spec) that returns the body to send, or an ``Answer`` (a body with its own status and headers)
where the status is not the documented success. ``families/routes.py`` mounts the table and turns
both into HTTP responses; an action never sees HTTP.

``standard(family, get=..., list_=..., create=..., update=..., delete=...)`` gives the plain
operations: retrieve by the path's id (a 404 naming the path parameter), list newest first in the
envelope the spec's list schema has (a bare array, ``{"data": [...]}``, ``{"clusters": [...]}``),
create and update from the request's fields, and delete (the spec's delete body, with the id).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mock_server.families.engine import Family, Record, Resources
from mock_server.spec.synth import echo, synthesize

__all__ = [
    "Action",
    "Answer",
    "Call",
    "Operation",
    "deleted_body",
    "envelope",
    "path_param",
    "standard",
]


@dataclass(frozen=True)
class Call:
    tenant: str
    path: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any  # the parsed JSON body (or None)
    base_url: str  # the server's root, for URLs it serves itself (downloads, videos)

    def json(self) -> dict[str, Any]:
        return dict(self.body) if isinstance(self.body, dict) else {}


Action = Callable[[Resources, Call], Any]


@dataclass(frozen=True)
class Answer:
    """A JSON body sent with a status other than the operation's documented success: the spec's
    307 to a download (the URL in ``Location`` too), the queue's 409 for a job past cancelling.
    Data, so that the families stay free of the web framework; ``routes.py`` renders it."""

    body: Any
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    key: str  # "POST /deployments/secrets": method and path as in the spec
    action: Action
    name: str = ""  # the handler's name in the routing table; the action's by default
    also: tuple[str, ...] = ()  # further mounted paths (the spec's per-operation servers)

    @property
    def method(self) -> str:
        return self.key.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.key.split(" ", 1)[1]

    @property
    def handler_name(self) -> str:
        return self.name or self.action.__name__


def path_param(key: str) -> str:
    """The last path parameter of an operation: the one naming the resource."""
    names: list[str] = re.findall(r"\{([^}]+)\}", key)
    return names[-1]


def envelope(resources: Resources, key: str, items: list[dict[str, Any]]) -> Any:
    """``items`` as the list operation ``key`` answers them: a bare array, or the spec's object
    with the items in its array field and its constants (``"object": "list"``) set."""
    schema = resources.schema(key)
    if schema.get("type") == "array":
        return items
    properties: dict[str, Any] = schema.get("properties", {})
    listed = next(name for name, sub in properties.items() if sub.get("type") == "array")
    skeleton = synthesize(schema)
    body = {
        name: value
        for name, value in skeleton.items()
        if name in schema.get("required", ()) or "const" in properties[name]
    }
    body[listed] = items
    return body


def _get(family: Family, key: str) -> Action:
    param = path_param(key)

    def get(resources: Resources, call: Call) -> Any:
        record = resources.get(family, call.tenant, call.path[param], param=param)
        return resources.render(family, record)

    get.__name__ = f"get_{family.kind}"
    return get


def _list(family: Family, key: str) -> Action:
    def list_(resources: Resources, call: Call) -> Any:
        records = reversed(resources.list(family, call.tenant))
        return envelope(resources, key, [resources.render(family, r) for r in records])

    list_.__name__ = f"list_{family.kind}s"
    return list_


def _create(family: Family) -> Action:
    def create(resources: Resources, call: Call) -> Any:
        record = resources.create(family, call.tenant, request=call.json())
        return resources.render(family, record)

    create.__name__ = f"create_{family.kind}"
    return create


def _update(family: Family, key: str) -> Action:
    param = path_param(key)

    def update(resources: Resources, call: Call) -> Any:
        record = resources.get(family, call.tenant, call.path[param], param=param)
        return resources.render(family, resources.update(family, record, request=call.json()))

    update.__name__ = f"update_{family.kind}"
    return update


def deleted_body(resources: Resources, family: Family, key: str, record: Record) -> Any:
    """The spec's delete body for ``record``: its schema's, with the id where it has one."""
    schema = resources.schema(key)
    return echo(synthesize(schema), schema, {family.id_field: record.id, "id": record.id})


def _delete(family: Family, key: str) -> Action:
    param = path_param(key)

    def delete(resources: Resources, call: Call) -> Any:
        record = resources.get(family, call.tenant, call.path[param], param=param)
        resources.delete(family, record)
        return deleted_body(resources, family, key, record)

    delete.__name__ = f"delete_{family.kind}"
    return delete


def standard(
    family: Family,
    *,
    get: str | None = None,
    list_: str | None = None,
    create: str | None = None,
    update: str | None = None,
    delete: str | None = None,
) -> list[Operation]:
    """The plain operations of ``family`` at the spec keys given."""
    operations = []
    if get:
        operations.append(Operation(get, _get(family, get)))
    if list_:
        operations.append(Operation(list_, _list(family, list_)))
    if create:
        operations.append(Operation(create, _create(family)))
    if update:
        operations.append(Operation(update, _update(family, update)))
    if delete:
        operations.append(Operation(delete, _delete(family, delete)))
    return operations
