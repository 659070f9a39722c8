"""Requests checked against their operation in the spec: parameters, JSON and multipart bodies.

A failure is an ``InvalidRequest`` (400) whose ``param`` names the offending field the way the
rest of the simulator does (``training_type.lora_r``, ``messages.0.content``), and whose message
says what was wrong without echoing the whole value back. Query, path and form values arrive as
text, so each is read as the type its schema asks for first (``"3"`` for an integer, ``"true"``
for a boolean, JSON text for an array) and then validated like a JSON value.

A JSON body is read by ``request_json``, which refuses non-finite numbers and too-deep nesting
before any schema is asked.

Validators are compiled once per schema (the index's schemas live as long as the process).
They assert the formats that constrain a value (``date-time``, ``uuid``, ``int64`` ... see
``formats``); ``float`` and ``binary`` are hints for code generators, not constraints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from mock_server.core.errors import InvalidRequest
from mock_server.core.wire import MAX_DEPTH
from mock_server.spec.index import SpecOperation
from mock_server.spec.request_json import parse_json
from mock_server.spec.schemas import Schema

if TYPE_CHECKING:  # jsonschema (~35 ms) loads on the first value that needs a real check
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = [
    "FormFile",
    "ValidRequest",
    "as_integers",
    "coerce_text",
    "first_error",
    "is_valid",
    "plain_path_only",
    "schema_validator",
    "validate_request",
]

_validators: dict[tuple[int, bool], tuple[Schema, Draft202012Validator]] = {}


def schema_validator(schema: Schema, *, formats: bool = True) -> Draft202012Validator:
    """A compiled validator; ``formats=False`` reads the schema as the SDKs do, formats unchecked
    (the drift report compares answers with the spec that way)."""
    key = (id(schema), formats)
    cached = _validators.get(key)
    if cached is None or cached[0] is not schema:
        from jsonschema import Draft202012Validator

        from mock_server.spec.formats import FORMATS

        checker = FORMATS if formats else None
        cached = (schema, Draft202012Validator(schema, format_checker=checker))
        _validators[key] = cached  # holding the schema keeps its id from being reused
    return cached[1]


def is_valid(value: Any, schema: Schema, *, formats: bool = True) -> bool:
    return bool(schema_validator(schema, formats=formats).is_valid(value))


def first_error(value: Any, schema: Schema) -> ValidationError | None:
    from jsonschema.exceptions import best_match

    error: ValidationError | None = best_match(schema_validator(schema).iter_errors(value))
    return error


@dataclass(frozen=True)
class FormFile:
    """An uploaded part of a multipart body (validated as the binary string it stands for). Its
    bytes stay in the form's spooled file until a route reads them, so checking a request never
    holds a large upload in memory."""

    filename: str
    content_type: str
    file: IO[bytes]

    def read(self) -> bytes:
        """The whole part (blocking: for small parts, or from a worker thread)."""
        self.file.seek(0)
        data = self.file.read()
        self.file.seek(0)
        return data


@dataclass(frozen=True)
class ValidRequest:
    path: Mapping[str, Any]
    query: Mapping[str, Any]
    body: Any  # the parsed JSON, the form's fields (files as FormFile), or None
    content_type: str | None  # the documented request content type that was used


def _types(schema: Schema) -> set[str]:
    kind = schema.get("type")
    found = {kind} if isinstance(kind, str) else set(kind or ())
    for variant in schema.get("anyOf", ()):
        found |= _types(variant)
    if "enum" in schema:
        found |= {type(v).__name__ for v in schema["enum"]}
    return found


def coerce_text(text: str, schema: Schema) -> Any:
    """A text value read as its schema's type; left as text when it cannot be."""
    kinds = _types(schema)
    if not kinds or "string" in kinds or "str" in kinds:
        return text
    if kinds & {"integer", "int"}:
        try:
            return int(text)
        except ValueError:
            pass
    if kinds & {"number", "float"}:
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return number if math.isfinite(number) else text  # "nan" is text, not a number
    if kinds & {"boolean", "bool"} and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kinds & {"array", "object", "list", "dict"}:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _where(path: tuple[Any, ...], prefix: str = "") -> str | None:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in path]
    return ".".join(parts) or None


_INTEGER_RANGES = {"int32": "-2**31 to 2**31-1", "int64": "-2**63 to 2**63-1"}


def _describe(error: ValidationError, prefix: str = "") -> tuple[str | None, str]:
    """(param, message) for a schema failure, naming the deepest field involved."""
    path = tuple(error.absolute_path)
    wanted: Any = error.validator_value
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = next((r for r in wanted if r not in error.instance), None)
        if missing is not None:
            field = _where((*path, missing), prefix)
            return field, f"{field} is required"
    field = _where(path, prefix)
    if error.validator == "type":
        message = "must be of type " + (" or ".join(wanted) if isinstance(wanted, list) else wanted)
    elif error.validator == "enum":
        message = "must be one of " + ", ".join(json.dumps(v) for v in wanted[:12])
    elif error.validator == "additionalProperties":
        message = "has fields the schema does not allow"
    elif error.validator == "format" and wanted in _INTEGER_RANGES:
        message = f"must be an integer from {_INTEGER_RANGES[wanted]}"
    elif error.validator == "format":
        message = f"must be a valid {wanted}"
    else:
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return field, f"{field}: {message}" if field else message


# Keywords that say nothing about which values are valid.
_ANNOTATIONS = frozenset(
    {"type", "description", "title", "example", "examples", "default", "deprecated", "nullable"}
)
_SCALARS: dict[str, tuple[type, ...]] = {"string": (str,), "boolean": (bool,)}


def _plainly_valid(value: Any, schema: Schema) -> bool:
    """A string for ``{"type": "string"}`` (a path id, most query values), a boolean for
    ``{"type": "boolean"}``: valid without compiling a validator, which is most of a cheap
    request's check."""
    kinds = _SCALARS.get(schema.get("type"))  # type: ignore[arg-type]
    return (
        kinds is not None
        and isinstance(value, kinds)
        and all(k in _ANNOTATIONS or k.startswith("x-") for k in schema)
    )


_PLAIN: dict[int, tuple[SpecOperation, bool]] = {}


def plain_path_only(op: SpecOperation) -> bool:
    """Whether a request without a body or query can only be valid for ``op``: its required
    parameters are all plain strings in the path, and it has no header parameters."""
    known = _PLAIN.get(id(op))
    if known is None or known[0] is not op:
        plain = all(
            (p.location == "path" and _plainly_valid("", p.schema))
            or (p.location == "query" and not p.required)
            for p in op.parameters
        )
        known = _PLAIN[id(op)] = (op, plain)  # holding ``op`` keeps its id from being reused
    return known[1]


def _check(value: Any, schema: Schema, prefix: str = "") -> None:
    if _plainly_valid(value, schema):
        return
    error = first_error(value, schema)
    if error is not None:
        param, message = _describe(error, prefix)
        raise InvalidRequest(message, param=param)


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _form_values(form: Mapping[str, list[Any]], schema: Schema) -> dict[str, Any]:
    """A multipart form as the object its schema describes: repeated or ``name[]`` fields make
    arrays, text is read as each property's type, files stand for binary strings."""
    properties = schema.get("properties", {})
    values: dict[str, Any] = {}
    for raw_name, items in form.items():
        name = raw_name.removesuffix("[]")
        sub = properties.get(name, {})
        read = [
            item if isinstance(item, FormFile) else coerce_text(str(item), _item_schema(sub))
            for item in items
        ]
        wants_array = raw_name.endswith("[]") or len(read) > 1
        values[name] = read if wants_array else read[0]
    return values


def _item_schema(schema: Schema) -> Schema:
    if "items" in schema:
        return dict(schema["items"])
    for variant in schema.get("anyOf", ()):
        if "items" in variant:
            return dict(variant["items"])
    return schema


def _for_schema(value: Any) -> Any:
    """Files become the strings their binary schema expects, for validation only."""
    if isinstance(value, FormFile):
        return value.filename or "file"
    if isinstance(value, list):
        return [_for_schema(v) for v in value]
    if isinstance(value, dict):
        return {k: _for_schema(v) for k, v in value.items()}
    return value


def validate_request(
    op: SpecOperation,
    *,
    path: Mapping[str, str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    content_type: str | None,
    raw_body: bytes = b"",
    form: Mapping[str, list[Any]] | None = None,
    max_depth: int = MAX_DEPTH,
) -> ValidRequest:
    """The request's values, read and checked against ``op``; ``InvalidRequest`` otherwise."""
    values: dict[str, dict[str, Any]] = {"path": {}, "query": {}}
    for parameter in op.parameters:
        if parameter.location == "path":
            given: list[str] = [path[parameter.name]] if parameter.name in path else []
        elif parameter.location == "query":
            given = list(query.get(parameter.name, ()))
        elif parameter.location == "header":
            given = [headers[parameter.name]] if parameter.name in headers else []
        else:
            continue
        if not given:
            if parameter.required:
                where = "query parameter" if parameter.location == "query" else parameter.location
                raise InvalidRequest(
                    f"Missing required {where} {parameter.name}", param=parameter.name
                )
            continue
        if parameter.schema.get("type") == "array":
            value: Any = [coerce_text(v, _item_schema(parameter.schema)) for v in given]
        else:
            value = coerce_text(given[-1], parameter.schema)
        _check(value, parameter.schema, parameter.name)
        values.setdefault(parameter.location, {})[parameter.name] = value
    body, used = _body(op, content_type, raw_body, form, max_depth)
    return ValidRequest(values["path"], values["query"], body, used)


def _body(
    op: SpecOperation,
    content_type: str | None,
    raw_body: bytes,
    form: Mapping[str, list[Any]] | None,
    max_depth: int,
) -> tuple[Any, str | None]:
    if op.body is None:
        return None, None
    media = _media(content_type)
    empty = not raw_body and not form
    if empty:
        if op.body.required:
            raise InvalidRequest("The request body is required", param=None)
        return None, None
    documented = op.body.content
    if form is not None and media in documented:
        schema = documented[media]
        values = _form_values(form, schema)
        _check(_for_schema(values), schema)
        return values, media
    json_type = next(
        (t for t in documented if t == "application/json" or t.endswith("+json")), None
    )
    if json_type is None:
        expected = ", ".join(documented)
        raise InvalidRequest(f"The request body must be sent as {expected}", param=None)
    parsed = parse_json(raw_body, max_depth=max_depth)
    _check(parsed, documented[json_type])
    return as_integers(parsed, documented[json_type]), json_type


def as_integers(value: Any, schema: Schema) -> Any:
    """``value`` with the floats its schema types as integers turned into ints: ``25.0`` is an
    integer to JSON Schema, but Python's ``range(25.0)`` fails, so handlers get ``25``."""
    if isinstance(value, float) and value.is_integer():
        kinds = _types(schema)
        if kinds & {"integer", "int"} and not kinds & {"number", "float"}:
            return int(value)
        return value
    variants = [*schema.get("anyOf", ()), *schema.get("allOf", ())]
    chosen = next(
        (v for v in variants if is_valid(value, v) and (_types(v) or "properties" in v)), None
    )
    if chosen is not None:
        schema = {**schema, **chosen}
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        fallback = extra if isinstance(extra, dict) else {}
        return {k: as_integers(v, properties.get(k, fallback)) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        return [as_integers(v, items) for v in value] if isinstance(items, dict) else value
    return value
