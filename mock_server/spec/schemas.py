"""The spec's schemas as the server checks and builds with them: resolved (no ``$ref`` left: the
spec has no cycles) and rewritten into plain JSON Schema 2020-12 the way the SDK generators read
the spec, since the spec mixes in OpenAPI 3.0 habits that a JSON Schema validator reads
differently:

- ``nullable: true`` admits ``null`` (the SDKs make such fields ``Optional``);
- ``oneOf`` is a union, as the SDKs' ``Union[...]`` is: a value may match several variants (a
  model's ``anyOf [enum of names, any string]`` does), so it is read as ``anyOf``;
- a ``type`` beside a ``oneOf``/``anyOf`` is dropped: the variants decide, as in the SDKs;
- ``discriminator`` only helps pick a variant and is dropped;
- a string whose ``contentMediaType`` is JSON stands for its ``contentSchema``: an SSE event's
  ``data`` is JSON text on the wire, and the SDKs (and this simulator) work with the value parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Resolver", "Schema", "sdk_schema"]

Schema = dict[str, Any]

_ANNOTATIONS = frozenset({"description", "title", "example", "examples", "deprecated", "default"})


class Resolver:
    """Resolves ``#/components/schemas/...`` references once each, rewriting as it goes.

    One per direction: a property marked ``readOnly`` is never required of a request (the
    August spec's ``Remediation`` requires its server-set ``id``, and a create sends the same
    schema), nor one marked ``writeOnly`` of a response."""

    def __init__(self, spec: Mapping[str, Any], direction: str = "response") -> None:
        self.spec = spec
        self.done: dict[str, Schema] = {}
        self.unsent = "readOnly" if direction == "request" else "writeOnly"

    def ref(self, pointer: str) -> Schema:
        if pointer not in self.done:
            target: Any = self.spec
            for part in pointer.removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            self.done[pointer] = self.schema(target)
        return self.done[pointer]

    def schema(self, raw: Any) -> Schema:
        if not isinstance(raw, Mapping):
            return {} if raw is True or raw is None else {"not": {}}
        content = raw.get("contentSchema")
        if isinstance(content, Mapping) and "json" in str(raw.get("contentMediaType", "")):
            return self.schema(content)  # JSON sent as text (an SSE event's data): the value
        if "$ref" in raw:
            base = self.ref(str(raw["$ref"]))
            siblings = {k: v for k, v in raw.items() if k != "$ref"}
            if not siblings:
                return base
            out = dict(base)
            out.update(self._rewrite(siblings))
            _union_decides(out)
        else:
            out = self._rewrite(raw)
        return _nullable(out, raw.get("nullable") is True)

    def _rewrite(self, raw: Mapping[str, Any]) -> Schema:
        out: Schema = {}
        for key, value in raw.items():
            if key in ("nullable", "discriminator"):
                continue
            if key in ("properties", "patternProperties", "$defs"):
                out[key] = {name: self.schema(sub) for name, sub in value.items()}
            elif key in ("items", "not", "contains", "propertyNames") or (
                key == "additionalProperties" and isinstance(value, Mapping)
            ):
                out[key] = self.schema(value)
            elif key in ("oneOf", "anyOf", "allOf", "prefixItems"):
                out["anyOf" if key == "oneOf" else key] = [self.schema(sub) for sub in value]
            else:
                out[key] = value
        _union_decides(out)
        required, properties = out.get("required"), out.get("properties")
        if isinstance(required, list) and isinstance(properties, dict):
            unsent = {
                n
                for n, sub in properties.items()
                if isinstance(sub, Mapping) and sub.get(self.unsent)
            }
            if unsent & set(required):
                out["required"] = [name for name in required if name not in unsent]
        return out


def _union_decides(schema: Schema) -> None:
    """A union of types (``anyOf: [string, object]``) decides the type, as in the SDKs: the
    sibling ``type`` goes. A union of constraints only (``oneOf: [{required: [canary]}, ...]``
    beside ``type: object``, as the August spec writes alternatives) keeps it: else any array
    would pass."""
    variants = schema.get("anyOf")
    if isinstance(variants, list) and any("type" in v or "anyOf" in v for v in variants):
        schema.pop("type", None)


def _nullable(schema: Schema, nullable: bool) -> Schema:
    if not nullable:
        return schema
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list):
        out["type"] = kind if "null" in kind else [*kind, "null"]
    elif "anyOf" in out:
        out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    else:
        core = {k: v for k, v in out.items() if k not in _ANNOTATIONS}
        out = {k: v for k, v in out.items() if k in _ANNOTATIONS}
        out["anyOf"] = [core, {"type": "null"}]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def sdk_schema(raw: Any, spec: Mapping[str, Any]) -> Schema:
    """One schema of ``spec`` resolved and rewritten as the module docstring says."""
    return Resolver(spec).schema(raw)
