"""Response values built from a schema, as SDK generators' mock servers build them.

A schema's own ``example`` (or first ``examples`` entry) is used when it is valid against the
schema; otherwise a value is synthesized deterministically: ``const``, the first enum value, the
first non-null variant of a union, every property of an object (optional ones too: a client
generated from a newer spec may require what this one leaves optional), arrays of one item,
numbers at their lower bound or zero, strings shaped by their ``format`` (or the shortest text
their ``pattern`` matches: the August spec's durations are ``^-?(?:0|...)s$``). So the same request
always gets the same bytes, and every value validates against the schema it came from (a unit
test checks that for every operation).

``echo`` then copies what the request said into the top-level fields of the same name (the id
in the path, the ``model`` in the body), where the value is valid for that field, so a client
sees its own ids and names come back.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from typing import Any

from mock_server.spec.schemas import Schema
from mock_server.spec.validate import is_valid

__all__ = ["echo", "synthesize"]

_MISSING = object()
_FORMATS: dict[str, Any] = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "uuid": str(uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF, version=4)),
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "email": "user@example.com",
    "byte": "ZXhhbXBsZQ==",  # base64 of "example"
    "binary": "",
}
_cache: dict[int, tuple[Schema, Any]] = {}


def synthesize(schema: Schema) -> Any:
    """A value valid for ``schema`` (a fresh copy each call: callers may change it)."""
    cached = _cache.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, _value(schema, depth=0))
        _cache[id(schema)] = cached  # holding the schema keeps its id from being reused
    return copy.deepcopy(cached[1])


def echo(value: Any, schema: Schema, given: Mapping[str, Any]) -> Any:
    """``value`` with the top-level fields named in ``given`` set to the given scalars, where
    ``schema`` has such a field and the given value is valid for it."""
    if not isinstance(value, dict):
        return value
    properties = _object_schema(schema, value).get("properties", {})
    for name, wanted in given.items():
        if (
            name in properties
            and isinstance(wanted, str | int | float | bool)
            and is_valid(wanted, properties[name])
        ):
            value[name] = wanted
    return value


def _object_schema(schema: Schema, value: Mapping[str, Any]) -> Schema:
    """The object schema ``value`` was built from (the first union variant it is valid for)."""
    if "properties" in schema:
        return schema
    variants: list[Schema] = schema.get("anyOf", [])
    for variant in variants:
        if "properties" in variant and is_valid(dict(value), variant):
            return variant
    return schema


def _example(schema: Schema) -> Any:
    candidates = []
    if "example" in schema:
        candidates.append(schema["example"])
    if isinstance(schema.get("examples"), list):
        candidates.extend(schema["examples"])
    for candidate in candidates:
        if candidate is not None and is_valid(candidate, schema):
            return candidate
    return _MISSING


def _value(schema: Schema, depth: int) -> Any:
    if depth > 24:  # the spec has no cycles; this only guards against a future one
        return None
    if "const" in schema:
        return schema["const"]
    example = _example(schema)
    if example is not _MISSING:
        return copy.deepcopy(example)
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), None)
    if "anyOf" in schema and "properties" not in schema:
        return _union(schema, depth)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part_value = _value(part, depth + 1)
            if not isinstance(part_value, dict):
                return part_value
            # A part that only requires a field another part describes (``{required: [n]}``)
            # must not replace that part's value with its placeholder text.
            described = part.get("properties", {})
            merged.update(
                {k: v for k, v in part_value.items() if k not in merged or k in described}
            )
        own = _object(schema, depth) if "properties" in schema else {}
        return {**merged, **own}
    kind = _kind(schema)
    if kind == "object":
        return _object(schema, depth)
    if kind == "array":
        return _array(schema, depth)
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {}


def _union(schema: Schema, depth: int) -> Any:
    variants = schema["anyOf"]
    ordered = [v for v in variants if v.get("type") != "null"] or variants
    for variant in ordered:
        candidate = _value(variant, depth + 1)
        if is_valid(candidate, schema):
            return candidate
    return _value(ordered[0], depth + 1)


def _kind(schema: Schema) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema:
            return "array"
    return kind if isinstance(kind, str) else None


def _object(schema: Schema, depth: int) -> dict[str, Any]:
    properties = schema.get("properties", {})
    value = {name: _value(sub, depth + 1) for name, sub in properties.items()}
    extra = schema.get("additionalProperties")
    for name in schema.get("required", ()):
        if name not in value:  # required but never described: the map's values, else text
            value[name] = _value(extra, depth + 1) if isinstance(extra, dict) else "string"
    return _one_alternative(value, schema)


def _one_alternative(value: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """An object whose union only says which fields it requires (the August spec's
    ``oneOf: [{required: [thresholdCheck]}, {required: [regressionCheck]}]``, read as anyOf):
    the first alternative's fields kept, the others' left out, so that exactly one holds."""
    variants = [
        v for v in schema.get("anyOf", ()) if set(v) <= {"required", "x-stainless-variantName"}
    ]
    if not variants or len(variants) != len(schema.get("anyOf", ())):
        return value
    chosen = set(variants[0].get("required", ()))
    others = {name for v in variants[1:] for name in v.get("required", ())}
    dropped = others - chosen - set(schema.get("required", ()))
    return {name: v for name, v in value.items() if name not in dropped}


def _array(schema: Schema, depth: int) -> list[Any]:
    if schema.get("maxItems") == 0:
        return []
    items = schema.get("items", {})
    count = max(int(schema.get("minItems", 1)), 1)
    if schema.get("uniqueItems") and count > 1 and items.get("enum"):
        return list(items["enum"][:count])
    return [_value(items, depth + 1) for _ in range(count)]


def _string(schema: Schema) -> str:
    text = str(_FORMATS.get(str(schema.get("format", "")), "string"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, text) is None:
        text = _shortest_match(pattern)
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if high is not None and len(text) > int(high):
        text = text[: int(high)]
    return text


def _shortest_match(pattern: str) -> str:
    """A short text ``pattern`` matches, read off its parse tree: each repeat its fewest times,
    each alternation its first branch, each class its first member. Lookarounds and
    backreferences are not followed (no pattern of the specs has one): then the result may not
    match, and the response check says so."""
    import importlib  # the stdlib's own regex parser (sre_parse before 3.11), untyped

    parser: Any = importlib.import_module("re._parser")

    def text_of(items: Any) -> str:
        out: list[str] = []
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(arg))
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, _high, sub = arg
                out.append(text_of(sub) * int(low))
            elif name == "SUBPATTERN":
                out.append(text_of(arg[-1]))
            elif name == "BRANCH":
                out.append(text_of(arg[1][0]))
            elif name == "IN":
                out.append(_first_member(arg))
            elif name in ("ANY", "NOT_LITERAL"):
                out.append("a" if name == "ANY" or arg != ord("a") else "b")
        return "".join(out)

    try:
        return text_of(parser.parse(pattern))
    except (re.error, ValueError, TypeError):
        return "string"


def _first_member(members: Any) -> str:
    for op, arg in members:
        if str(op) == "LITERAL":
            return chr(arg)
        if str(op) == "RANGE":
            return chr(arg[0])
        if str(op) == "CATEGORY":
            return "0" if "DIGIT" in str(arg) and "NOT" not in str(arg) else "a"
    return "a"


def _number(schema: Schema, kind: str) -> int | float:
    value: float = 0
    if "minimum" in schema and schema["minimum"] > value:
        value = schema["minimum"]
    if "maximum" in schema and schema["maximum"] < value:
        value = schema["maximum"]
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + 1
    if kind == "integer":
        return int(value)
    return float(value)
