"""The spec's schemas as the client-fuzz judge reads them: ``jsonschema`` on the raw document.

JSON Schema 2020-12 as written, every ``$ref`` resolved by ``referencing`` against the whole
document, with three additions the document itself asks for:

- OpenAPI 3.0's ``nullable: true``, which this 3.1 document still uses, admits ``null``;
- the value formats that constrain are asserted: ``date-time`` per RFC 3339, ``uri``, ``int32``,
  ``int64``, and those jsonschema checks itself; ``float`` or ``binary`` only tell code generators
  which type to use;
- a string whose ``contentMediaType`` is JSON must be JSON that its ``contentSchema`` admits (the
  content vocabulary's optional assertion): an SSE event's ``data`` is JSON text, and the overlay
  says which object it holds.

``oneOf`` means exactly one: where the spec's ``oneOf`` cannot hold, the overlay says so in the
open, not this module. Text (a query value, a form field) is read as the type its schema names
before it is validated. Nothing here imports ``mock_server``: see ``spec_oracle``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["FORMATS", "SPEC_URI", "Schemas", "pointer_to"]

SPEC_URI = "urn:together-sim:judge:spec"
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}

FORMATS = FormatChecker()  # jsonschema's own (date, uuid, email, ip addresses, regex), and:
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    try:
        dt.datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value.replace(" ", "T")))
    except ValueError:
        return False
    return True


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value) is not None


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _content_schema(
    validator: Any, content_schema: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not isinstance(instance, str) or "json" not in str(schema.get("contentMediaType", "")):
        return
    try:
        value = json.loads(instance)
    except ValueError:
        yield ValidationError(f"{instance[:80]!r} is not the JSON its contentMediaType says")
        return
    yield from validator.descend(value, content_schema)


_Validator: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"contentSchema": _content_schema}
)


def pointer_to(*parts: str) -> str:
    """The JSON pointer of the node at ``parts`` (each escaped as RFC 6901 says)."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _admit_null(node: Any) -> Any:
    """The document with every ``nullable: true`` schema spelt as JSON Schema says it."""
    if isinstance(node, list):
        return [_admit_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _admit_null(value) for key, value in node.items()}
    if out.get("nullable") is True:
        del out["nullable"]
        return {"anyOf": [out, {"type": "null"}]}
    return out


class Schemas:
    """One spec document's schemas, compiled on first use and addressed by JSON pointer."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = _admit_null(copy.deepcopy(dict(document)))
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[str, Any] = {}

    def validator(self, pointer: str) -> Any:
        """The schema at ``pointer`` compiled once; its references resolve in the document."""
        found = self._validators.get(pointer)
        if found is None:
            schema = {"$ref": f"{SPEC_URI}#{pointer}"}
            found = _Validator(schema, registry=self.registry, format_checker=FORMATS)
            self._validators[pointer] = found
        return found

    def first_error(self, value: Any, pointer: str) -> ValidationError | None:
        error: ValidationError | None = best_match(self.validator(pointer).iter_errors(value))
        return error

    def follow(self, pointer: str) -> str:
        """Where the schema at ``pointer`` is written, its ``$ref``s followed."""
        node = self.at(pointer)
        while isinstance(node, Mapping) and str(node.get("$ref", "")).startswith("#"):
            pointer = str(node["$ref"]).removeprefix("#")
            node = self.at(pointer)
        return pointer

    def at(self, pointer: str) -> Any:
        return self.registry.resolver(SPEC_URI).lookup(f"#{pointer}").contents

    def types(self, pointer: str, depth: int = 0) -> set[str]:
        """The JSON types a schema admits at its top level (through its ``$ref`` and unions)."""
        pointer = self.follow(pointer)
        schema = self.at(pointer)
        if not isinstance(schema, Mapping) or depth > 8:
            return set()
        kind = schema.get("type")
        found = {kind} if isinstance(kind, str) else set(kind or ())
        if "enum" in schema:
            found |= {_JSON_TYPES.get(type(v), "object") for v in schema["enum"]}
        for union in ("anyOf", "oneOf", "allOf"):
            for i, _ in enumerate(schema.get(union, ())):
                found |= self.types(f"{pointer}/{union}/{i}", depth + 1)
        return found

    def items(self, pointer: str) -> str:
        """The pointer of an array schema's ``items`` (in whichever variant has them)."""
        pointer = self.follow(pointer)
        schema = self.at(pointer)
        if not isinstance(schema, Mapping):
            return ""
        if "items" in schema:
            return f"{pointer}/items"
        for union in ("anyOf", "oneOf", "allOf"):
            for i, _ in enumerate(schema.get(union, ())):
                if "array" in self.types(f"{pointer}/{union}/{i}"):
                    return self.items(f"{pointer}/{union}/{i}")
        return ""

    def read_text(self, text: str, pointer: str) -> Any:
        """A text value as the type its schema names; the text itself when it is none of them."""
        kinds = self.types(pointer) if pointer else set()
        if not kinds or "string" in kinds:
            return text
        readers: list[tuple[str, Any]] = [
            ("integer", int),
            ("number", float),
            ("boolean", lambda t: {"true": True, "false": False}[t]),
            ("array", json.loads),
            ("object", json.loads),
            ("null", lambda t: {"null": None}[t]),
        ]
        for kind, read in readers:
            if kind in kinds:
                try:
                    return read(text)
                except (ValueError, KeyError):
                    continue
        return text
