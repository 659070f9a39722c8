"""Every operation of the pinned spec (with the overlay applied), indexed for serving.

The generic layer answers any of the spec's operations from this index alone: the route as the
server mounts it (the spec's ``servers`` path, ``/v1``, or the operation's own, ``/v2``, which
is matched under ``/v1`` too, in front of the spec's path), the parameters, the request body per
content type, the responses per status, and whether a key is needed. It is built once per spec
file and cached; matching a request is a dict lookup for fixed paths and, for templated ones, a
comparison segment by segment against the routes of its length, most literal segments first,
so that ``/deployments/secrets`` wins over ``/deployments/{id}``.

Schemas are stored resolved (no ``$ref`` left) and rewritten the way the SDK generators read the
spec: ``schemas.py``.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mock_server.spec.schemas import Resolver, Schema
from mock_server.spec.templates import Template

__all__ = [
    "Body",
    "OperationIndex",
    "Parameter",
    "Reply",
    "SpecOperation",
    "build_index",
    "operation_index",
]

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "path", "query" or "header"
    required: bool
    schema: Schema


@dataclass(frozen=True)
class Body:
    required: bool
    content: Mapping[str, Schema]  # content type -> schema


@dataclass(frozen=True)
class Reply:
    status: str  # "200", "307", "default"
    content: Mapping[str, Schema | None]  # content type -> schema ({} when documented bare)


class _Schemas:
    """An operation's parameters, body and replies, resolved and rewritten (``schemas.py``) when
    first asked for: the ~210 operations' schemas were ~15 ms of every start, and a process
    serves a few of them. One lock per index, since the resolvers' caches are shared."""

    def __init__(
        self,
        resolvers: tuple[Resolver, Resolver],
        lock: threading.Lock,
        shared: list[Any],
        raw: Mapping[str, Any],
    ) -> None:
        self._responses, self._requests = resolvers
        self._lock = lock
        self._shared = shared  # the path item's parameters
        self._raw = raw

    def parameters(self) -> tuple[Parameter, ...]:
        raw = self._raw
        own = {(p["name"], p["in"]) for p in raw.get("parameters") or ()}
        with self._lock:
            return tuple(
                Parameter(
                    name=str(p["name"]),
                    location=str(p["in"]),
                    required=bool(p.get("required")) or p["in"] == "path",
                    schema=self._requests.schema(p.get("schema", {})),
                )
                for p in [
                    *(s for s in self._shared if (s["name"], s["in"]) not in own),
                    *(raw.get("parameters") or ()),
                ]
            )

    def body(self) -> Body | None:
        request = self._raw.get("requestBody")
        if not request:
            return None
        with self._lock:
            return Body(
                required=bool(request.get("required")),
                content={
                    ctype: self._requests.schema(media.get("schema", {}))
                    for ctype, media in (request.get("content") or {}).items()
                },
            )

    def replies(self) -> Mapping[str, Reply]:
        responses = self._responses
        with self._lock:
            return {
                str(status): Reply(
                    status=str(status),
                    content={
                        ctype: responses.schema(media["schema"]) if "schema" in media else None
                        for ctype, media in (reply.get("content") or {}).items()
                    },
                )
                for status, reply in (self._raw.get("responses") or {}).items()
            }


@dataclass(frozen=True)
class SpecOperation:
    method: str  # upper case
    path: str  # as in the spec: /fine-tunes/{id}
    route: str  # as mounted: /v1/fine-tunes/{id}
    name: str  # operationId, or method and path when the spec gives none
    tags: tuple[str, ...]
    secured: bool
    schemas: _Schemas = field(compare=False, repr=False)  # its parameters, body and replies
    template: Template | None = field(default=None, compare=False)  # None: a fixed route

    @functools.cached_property
    def parameters(self) -> tuple[Parameter, ...]:
        return self.schemas.parameters()

    @functools.cached_property
    def body(self) -> Body | None:
        return self.schemas.body()

    @functools.cached_property
    def replies(self) -> Mapping[str, Reply]:
        return self.schemas.replies()

    @property
    def success(self) -> Reply:
        """The reply to a valid request: the first documented 2xx, else 3xx, else 1xx."""
        for first in "231":
            for status, reply in self.replies.items():
                if status.startswith(first):
                    return reply
        return next(iter(self.replies.values()))

    def reply_for(self, status: int) -> Reply | None:
        return self.replies.get(str(status)) or self.replies.get("default")

    def concrete_path(self, value: str = "example") -> str:
        """The route with every path parameter filled in (for listings and tests)."""
        return re.sub(r"\{[^}]+\}", value, self.route)


class OperationIndex:
    """The operations in document order, and fast lookup of the one a request is for."""

    def __init__(
        self, operations: list[SpecOperation], aliases: list[SpecOperation] | None = None
    ) -> None:
        self.operations = tuple(operations)
        self._fixed: dict[tuple[str, str], SpecOperation] = {}
        self._concrete: dict[str, set[str]] = {}  # fixed route -> its methods
        # templated route -> method -> operation, the routes most specific first
        templated: dict[str, dict[str, SpecOperation]] = {}
        # ``aliases``: the same operations under another route, matched but not listed.
        for op in [*operations, *(aliases or ())]:
            if op.template is None:
                self._fixed[(op.method, op.route)] = op
                self._concrete.setdefault(op.route, set()).add(op.method)
            else:
                templated.setdefault(op.route, {}).setdefault(op.method, op)
        # By length (segments), each length's routes most specific first: a path is only ever
        # on routes of its own length (a parameter is one segment). -1: routes matched whole.
        self._by_length: dict[int, list[tuple[Template, dict[str, SpecOperation]]]] = {}
        for _, by_method in sorted(templated.items(), key=lambda kv: _specificity(kv[0])):
            template = next(iter(by_method.values())).template
            assert template is not None
            self._by_length.setdefault(template.length, []).append((template, by_method))

    def _templated_route(self, path: str) -> tuple[dict[str, SpecOperation], dict[str, str]]:
        """The operations of the most specific templated route ``path`` is on, and its
        parameters. OpenAPI matches literal segments before templated ones, whatever the
        method: ``DELETE .../rollouts/preview-defaults`` is on ``/rollouts/preview-defaults``
        (which has no DELETE: a 405), not ``DELETE /rollouts/{id}`` of "preview-defaults"."""
        parts = path.split("/")
        for length in (len(parts), -1):
            for template, by_method in self._by_length.get(length, ()):
                params = template.match(parts)
                if params is not None:
                    return by_method, params
        return {}, {}

    def match(self, method: str, path: str) -> tuple[SpecOperation, dict[str, str]] | None:
        op = self._fixed.get((method, path))
        if op is not None:
            return op, {}
        if path in self._concrete:
            # A concrete path is matched before its templated counterparts (OpenAPI's path
            # matching): DELETE /deployments/secrets is not DELETE /deployments/{id} of "secrets".
            return None
        by_method, params = self._templated_route(path)
        op = by_method.get(method)
        return (op, params) if op is not None else None

    def methods_for(self, path: str) -> list[str]:
        """The methods the spec documents for ``path`` (for a 405's ``Allow``)."""
        if path in self._concrete:
            return sorted(self._concrete[path])
        return sorted(self._templated_route(path)[0])

    def resolve_all(self) -> None:
        """Every operation's schemas, now rather than on its first request: for a spec that no
        pin vouches for (``--spec``), so that a reference to nothing stops the server at
        startup, in one line, instead of failing each request to that operation."""
        from openapi.locate import SpecError

        for op in self.operations:
            try:
                op.parameters, op.body, op.replies  # noqa: B018 - resolved and kept
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise SpecError(
                    f"{op.method} {op.path}: the spec does not resolve ({exc!r} not found)"
                ) from None

    def by_key(self, method: str, path: str) -> SpecOperation:
        """The operation with this method and spec path (``GET``, ``/fine-tunes/{id}``)."""
        for op in self.operations:
            if op.method == method and op.path == path:
                return op
        raise KeyError(f"{method} {path}")


def _specificity(route: str) -> tuple[int, ...]:
    """Literal segments first, segment by segment: of the routes a path is on (all of its
    length: a parameter is one segment), the one whose first literal comes earliest wins."""
    return tuple(1 if part.startswith("{") else 0 for part in route.strip("/").split("/"))


# --- building --------------------------------------------------------------------------------


def _secured(security: Any) -> bool:
    return isinstance(security, list) and bool(security) and all(security)


def _server_path(servers: Any) -> str:
    """The path of the first server URL (``https://api.together.ai/v2`` -> ``/v2``)."""
    if not servers:
        return ""
    return urlsplit(str(servers[0].get("url", "/"))).path.rstrip("/")


def build_index(spec: Mapping[str, Any]) -> OperationIndex:
    resolvers, lock = (Resolver(spec), Resolver(spec, "request")), threading.Lock()
    default_prefix = _server_path(spec.get("servers"))
    default_security = spec.get("security", [])
    operations, aliases = [], []
    for path, item in (spec.get("paths") or {}).items():
        shared = list(item.get("parameters") or ())
        for method, raw in item.items():
            if method not in _HTTP_METHODS or not isinstance(raw, Mapping):
                continue
            # An operation (or path) may name its own server: the videos live under /v2, and the
            # overlay's /v3/whoami under the API's root (an empty server path).
            servers = raw.get("servers") or item.get("servers")
            prefix = _server_path(servers) if servers else default_prefix
            route = prefix + str(path)
            name = raw.get("operationId") or f"{method} {path}"
            operations.append(
                SpecOperation(
                    method=method.upper(),
                    path=str(path),
                    route=route,
                    name=str(name),
                    tags=tuple(str(t) for t in raw.get("tags") or ()),
                    secured=_secured(raw.get("security", default_security)),
                    schemas=_Schemas(resolvers, lock, shared, raw),
                    template=Template.of(route),
                )
            )
            if prefix != default_prefix:
                # Clients whose base URL ends in /v1 (SDK 2.x, a contract run) reach these under
                # /v1 as well: /v1/videos, and /v1/v3/whoami for the one on the API's root.
                usual = default_prefix + str(path)
                aliases.append(replace(operations[-1], route=usual, template=Template.of(usual)))
    # An alias never hides an operation of its own at that route.
    routes = {(op.method, op.route) for op in operations}
    aliases = [alias for alias in aliases if (alias.method, alias.route) not in routes]
    return OperationIndex(operations, aliases)


@functools.lru_cache(maxsize=4)
def _index_for(path: str, mtime_ns: int) -> OperationIndex:
    del mtime_ns  # part of the cache key only
    from openapi.overlaid import overlaid_spec_at

    return build_index(overlaid_spec_at(Path(path)))


def operation_index(spec_path: Path | None = None) -> OperationIndex:
    """The index of the spec at ``spec_path`` (default: the pinned spec), with the overlay."""
    from openapi.locate import SpecNotFound, find_spec_path

    path = (spec_path or find_spec_path(allow_download=False)).resolve()
    try:
        modified = path.stat().st_mtime_ns
    except OSError as exc:
        raise SpecNotFound(
            f"the spec named by --spec / TOGETHER_SIM_SPEC is not readable: {exc}"
        ) from None
    return _index_for(str(path), modified)
