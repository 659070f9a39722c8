"""Check a recorded response against the pinned spec: is the operation there, is the status
declared, and which fields differ from the schema.

The operation and its schemas come from ``mock_server.spec.index`` (resolved, and read the way
the SDK generators read the spec: ``oneOf`` as a union, ``nullable`` as ``null`` allowed, a
``type`` beside a union left to the union), built from the pinned spec as published, without
the simulator's overlay: the report is about what the published spec says. ``jsonschema``
finds missing required fields and wrong types or values. What it cannot find is a field the
spec does not declare (the spec never says ``additionalProperties: false``), so a small walk
over the same schema reports those; in a union it follows the variant the value fits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError

from mock_server.spec.index import OperationIndex, SpecOperation, build_index
from mock_server.spec.schemas import Schema
from mock_server.spec.validate import is_valid, schema_validator

__all__ = ["Finding", "Reply", "conform", "find_reply", "json_type", "spec_index"]


@dataclass(frozen=True, order=True)
class Finding:
    """One difference. ``kind`` is ``extra_field``, ``missing_required`` or ``type_mismatch``
    (a wrong type, or a value the schema does not allow); ``path`` is where (``data[].type``)."""

    kind: str
    path: str
    expected: str = ""
    actual: str = ""


@dataclass(frozen=True)
class Reply:
    """What the spec says about one recorded response. ``operation`` None: not in the spec."""

    operation: SpecOperation | None
    status_declared: bool = False
    content_type_declared: bool = False
    schema: Schema | None = None


_built: dict[int, tuple[Mapping[str, Any], OperationIndex]] = {}


def spec_index(spec: Mapping[str, Any]) -> OperationIndex:
    """The operation index of ``spec``, built once per spec object (a second or so)."""
    cached = _built.get(id(spec))
    if cached is None or cached[0] is not spec:
        cached = (spec, build_index(spec))
        _built[id(spec)] = cached  # holding the spec keeps its id from being reused
    return cached[1]


def find_reply(
    spec: Mapping[str, Any], method: str, path: str, status: int, content_type: str
) -> Reply:
    found = spec_index(spec).match(method.upper(), path)
    if found is None:
        return Reply(None)
    op = found[0]
    reply = op.reply_for(status) or op.replies.get(f"{str(status)[0]}XX")
    if reply is None:
        return Reply(op)
    media = content_type.split(";")[0].strip().lower()
    if not reply.content:
        return Reply(op, True, not media)
    if media not in reply.content:
        return Reply(op, True, False)
    schema = reply.content[media]
    return Reply(op, True, True, _nullable_all_of(schema) if schema is not None else None)


# What the index makes of a lone ``{nullable: true}``: anything, or null.
_NULLABLE_ALONE: Schema = {"anyOf": [{}, {"type": "null"}]}
_prepared: dict[int, tuple[Schema, Schema]] = {}


def _nullable_all_of(schema: Schema) -> Schema:
    """``allOf: [{nullable: true}, {$ref: X}]`` is OpenAPI 3.0's way to write "X or null" (the
    spec does so for ``usage``, ``finish_reason`` and ``logprobs`` of chat answers) and the SDKs
    read it so; resolved as it stands, the ``allOf`` still refuses null. Rewritten here to
    ``anyOf: [X, null]``, once per schema."""
    cached = _prepared.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, _rewrite_nullable(schema))
        _prepared[id(schema)] = cached
    return cached[1]


def _rewrite_nullable(value: Any) -> Any:
    if isinstance(value, list):
        return [_rewrite_nullable(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _rewrite_nullable(v) for k, v in value.items()}
    parts = out.get("allOf")
    if isinstance(parts, list) and _NULLABLE_ALONE in parts:
        rest = [p for p in parts if p != _NULLABLE_ALONE]
        inner = {k: v for k, v in out.items() if k != "allOf"}
        if rest:
            inner["allOf"] = rest
        return {"anyOf": [inner, {"type": "null"}]}
    return out


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += "[]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors that say what is wrong: inside a union, those of the variant that came
    closest (fewest errors), not the union's own "not valid under any" message."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        variants: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            variants.setdefault(sub.relative_schema_path[0], []).append(sub)
        closest = min(variants.values(), key=len)
        return [leaf for sub in closest for leaf in _leaves(sub)]
    return [error]


def _from_error(error: ValidationError) -> list[Finding]:
    at = list(error.absolute_path)
    wanted = error.validator_value
    if error.validator == "required" and isinstance(error.instance, Mapping):
        names = wanted if isinstance(wanted, list) else []
        missing = [name for name in names if name not in error.instance]
        return [Finding("missing_required", _path([*at, name])) for name in missing]
    if error.validator == "type":
        expected = "|".join(wanted) if isinstance(wanted, list) else str(wanted)
        return [Finding("type_mismatch", _path(at), expected, json_type(error.instance))]
    if error.validator == "enum" and isinstance(wanted, list):
        expected = "one of " + ", ".join(map(str, wanted))
        return [Finding("type_mismatch", _path(at), expected, repr(error.instance))]
    expected = f"{error.validator} {wanted!r}"
    return [Finding("type_mismatch", _path(at), expected, repr(error.instance))]


def _extra_fields(value: Any, schema: Schema, at: str) -> list[Finding]:
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        tries = [
            (not is_valid(value, v, formats=False), _extra_fields(value, v, at)) for v in variants
        ]
        return min(tries, key=lambda t: (t[0], len(t[1])))[1]
    if schema.get("allOf"):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties = dict(merged.get("properties") or {})
        for part in schema["allOf"]:
            properties.update(part.get("properties") or {})
            if "additionalProperties" in part:
                merged.setdefault("additionalProperties", part["additionalProperties"])
        merged["properties"] = properties
        return _extra_fields(value, merged, at)
    found: list[Finding] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            where = f"{at}.{name}" if at else str(name)
            if name in properties:
                found += _extra_fields(item, properties[name], where)
            elif isinstance(extra, Mapping):
                found += _extra_fields(item, dict(extra), where)
            elif extra is False or (extra is None and properties):
                found.append(Finding("extra_field", where, actual=json_type(item)))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            found += _extra_fields(item, schema["items"], f"{at}[]")
    return found


def conform(value: Any, schema: Schema) -> list[Finding]:
    """Every difference between a JSON ``value`` and a resolved ``schema``, each once."""
    found = set(_extra_fields(value, schema, ""))
    for error in schema_validator(schema, formats=False).iter_errors(value):  # as SDKs read it
        for leaf in _leaves(error):
            found.update(_from_error(leaf))
    return sorted(found)
