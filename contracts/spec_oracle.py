"""The spec as the client-fuzz judge reads it, by a path that shares no code with the simulator.

The simulator reads the spec its own way (``mock_server.spec.index`` rewrites the schemas,
``mock_server.spec.validate`` checks requests and answers) and that reading is part of what is
under test: a judge that used it would pass whatever it wrongly admits, on both sides of every
exchange. So the judge's oracle is built here from the raw document: the pinned spec
(``openapi.spec.load_spec``) with the project's overlay (``openapi.overlay.overlaid_spec``, the
same data schemathesis runs on), its schemas read with ``jsonschema`` directly
(``spec_schemas``). Nothing here imports ``mock_server``.

Operations are found by their own route (the document's ``servers`` path, or the operation's), a
literal path before a template, as OpenAPI matches them. A request is checked parameter by
parameter (text read as its schema's type), then its body as the media type it was sent as: JSON,
or a form, field by field.
"""

from __future__ import annotations

import email.parser
import email.policy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from contracts.spec_schemas import Schemas, pointer_to
from openapi.overlay import overlaid_spec
from openapi.spec import load_spec

__all__ = ["SpecOperation", "SpecOracle", "spec_oracle"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "path", "query" or "header"
    required: bool
    schema: str  # a JSON pointer into the document


@dataclass(frozen=True)
class SpecOperation:
    method: str  # upper case
    path: str  # as the spec writes it
    route: str  # with the server's path in front: /v1/fine-tunes/{id}
    name: str  # the operationId, else "<method> <path>" as the spec writes them
    parameters: tuple[Parameter, ...]
    body_required: bool
    body: Mapping[str, str | None]  # request media type -> schema pointer
    replies: Mapping[str, Mapping[str, str | None]]  # status -> media type -> schema pointer

    def reply_for(self, status: int) -> Mapping[str, str | None] | None:
        """What the spec documents for ``status``: the exact code, its range, or ``default``."""
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in self.replies:
                return self.replies[key]
        return None

    @property
    def success(self) -> Mapping[str, str | None]:
        """The reply to a valid request: the first documented 2xx, else 3xx, else 1xx."""
        for first in "231":
            for status, reply in self.replies.items():
                if status.startswith(first):
                    return reply
        return {}


def _server_path(servers: Any) -> str:
    if not servers:
        return ""
    return urlsplit(str(servers[0].get("url", ""))).path.rstrip("/")


class SpecOracle(Schemas):
    """The operations of one spec document, over its schemas (``Schemas``)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        super().__init__(document)
        self.operations = tuple(self._operations())
        self._literal = {op.route for op in self.operations if "{" not in op.route}
        templated = [op for op in self.operations if "{" in op.route]
        templated.sort(key=lambda op: -sum(not s.startswith("{") for s in op.route.split("/")))
        self._templated = [(op, _route_pattern(op.route)) for op in templated]

    def _operations(self) -> Iterator[SpecOperation]:
        default = _server_path(self.document.get("servers"))
        for path, item in (self.document.get("paths") or {}).items():
            shared = list(item.get("parameters") or ())
            for method, raw in item.items():
                if method not in _METHODS or not isinstance(raw, Mapping):
                    continue
                at = ("paths", path, method)
                own = list(enumerate(raw.get("parameters") or ()))
                overridden = {(p["name"], p["in"]) for _, p in own}
                listed = [
                    *(
                        (p, ("paths", path, "parameters", str(i)))
                        for i, p in enumerate(shared)
                        if (p["name"], p["in"]) not in overridden
                    ),
                    *((p, (*at, "parameters", str(i))) for i, p in own),
                ]
                parameters = tuple(
                    Parameter(
                        p["name"], p["in"], bool(p.get("required")), pointer_to(*at_, "schema")
                    )
                    for p, at_ in listed
                )
                request = raw.get("requestBody") or {}
                body = {
                    media: pointer_to(*at, "requestBody", "content", media, "schema")
                    if "schema" in spec
                    else None
                    for media, spec in (request.get("content") or {}).items()
                }
                replies = {
                    str(status): {
                        media: pointer_to(*at, "responses", str(status), "content", media, "schema")
                        if "schema" in spec
                        else None
                        for media, spec in (reply.get("content") or {}).items()
                    }
                    for status, reply in (raw.get("responses") or {}).items()
                }
                prefix = _server_path(raw.get("servers") or item.get("servers")) or default
                yield SpecOperation(
                    method=method.upper(),
                    path=path,
                    route=prefix + path,
                    name=str(raw.get("operationId") or f"{method} {path}"),
                    parameters=parameters,
                    body_required=bool(request.get("required")),
                    body=body,
                    replies=replies,
                )

    # --- finding ---------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[SpecOperation, dict[str, str]] | None:
        """The operation a request is for, and its path parameters; None when the spec has none."""
        if path in self._literal:
            found = next(
                (op for op in self.operations if op.method == method and op.route == path), None
            )
            return (found, {}) if found is not None else None
        for op, pattern in self._templated:
            if op.method != method:
                continue
            matched = pattern.fullmatch(path)
            if matched is not None:
                return op, matched.groupdict()
        return None

    def by_key(self, method: str, path: str) -> SpecOperation:
        """The operation with this method and spec path (``GET``, ``/files/{id}``)."""
        for op in self.operations:
            if op.method == method and op.path == path:
                return op
        raise KeyError(f"{method} {path}")

    # --- requests --------------------------------------------------------------------------------

    def request_problem(
        self,
        op: SpecOperation,
        *,
        path: Mapping[str, str],
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> str | None:
        """None when the request is valid per the spec, else what is wrong with it."""
        given_query = parse_qs(query, keep_blank_values=True)
        for parameter in op.parameters:
            if parameter.location == "path":
                given = [path[parameter.name]] if parameter.name in path else []
            elif parameter.location == "query":
                given = given_query.get(parameter.name, [])
            elif parameter.location == "header":
                given = [headers[parameter.name]] if parameter.name in headers else []
            else:
                continue
            if not given:
                if parameter.required:
                    return f"the {parameter.location} parameter {parameter.name} is missing"
                continue
            if "array" in self.types(parameter.schema):
                items = self.items(parameter.schema)
                value: Any = [self.read_text(v, items) for v in given]
            else:
                value = self.read_text(given[-1], parameter.schema)
            error = self.first_error(value, parameter.schema)
            if error is not None:
                return f"{parameter.name}: {error.message}"
        return self._body_problem(op, headers.get("content-type", ""), body)

    def _body_problem(self, op: SpecOperation, content_type: str, body: bytes) -> str | None:
        if not op.body:
            return None
        if not body:
            return "the request body is required" if op.body_required else None
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in op.body:
            return f"the body is sent as {media!r}, which the spec does not document"
        pointer = op.body[media]
        if pointer is None:
            return None
        if media == "application/json" or media.endswith("+json"):
            try:
                value = json.loads(body)
            except ValueError:
                return "the body is not JSON"
        elif media in ("multipart/form-data", "application/x-www-form-urlencoded"):
            value = self._form(media, content_type, body, pointer)
        else:
            return None  # bytes the schema cannot speak of (an audio file, plain text)
        error = self.first_error(value, pointer)
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path)
        return f"the body at /{where}: {error.message}"

    def _form(self, media: str, content_type: str, body: bytes, pointer: str) -> dict[str, Any]:
        """A form as the object its schema describes: repeated fields make arrays, text is read
        as each property's type, a file stands for the binary string its schema names."""
        fields: dict[str, list[Any]] = {}
        if media == "application/x-www-form-urlencoded":
            for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
                fields.setdefault(key, []).extend(values)
        else:
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if isinstance(name, str):
                    filename = part.get_filename()
                    payload = part.get_payload(decode=True)
                    text = payload.decode(errors="replace") if isinstance(payload, bytes) else ""
                    fields.setdefault(name, []).append(filename if filename is not None else text)
        pointer = self.follow(pointer)
        schema = self.at(pointer)
        properties = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        value: dict[str, Any] = {}
        for raw_name, texts in fields.items():
            name = raw_name.removesuffix("[]")
            at = pointer_to("properties", name) if name in properties else ""
            read = [self.read_text(text, pointer + at) if at else text for text in texts]
            value[name] = read if raw_name.endswith("[]") or len(read) > 1 else read[0]
        return value


def _route_pattern(route: str) -> re.Pattern[str]:
    parts = re.split(r"\{([^}]+)\}", route)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    )


@functools.cache
def spec_oracle(spec_path: Path | None = None) -> SpecOracle:
    """The oracle for the pinned spec (or the one at ``spec_path``), with the overlay applied."""
    return SpecOracle(overlaid_spec(load_spec(spec_path)))
