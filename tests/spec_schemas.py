"""Check a response body against the pinned spec's schema for its operation and status.

The spec is OpenAPI 3.1, whose schemas are JSON Schema 2020-12: a response schema is validated
as it stands, with the spec's ``components`` beside it so that its ``$ref``s resolve. Some of its
schemas still say ``nullable: true`` (OpenAPI 3.0's word, which 2020-12 ignores), as ErrorData's
``param`` and ``code`` do; that is read as its author meant it, the type or null.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema

from openapi.locate import find_spec_path
from openapi.spec import load_spec

__all__ = ["assert_is_error_data", "assert_matches_spec"]


def _nullable(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _nullable(value) for key, value in schema.items()}
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = _nullable(load_spec(find_spec_path(allow_download=False)))
    return spec


@cache
def _validator(method: str, path: str, status: int) -> jsonschema.Draft202012Validator:
    spec = _spec()
    response = spec["paths"][path][method.lower()]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator(
        {**schema, "components": spec["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def assert_matches_spec(body: Any, method: str, path: str, status: int = 200) -> None:
    """``path`` is the spec's (``/endpoints/{endpointId}``), without the server's ``/v1``."""
    errors = sorted(_validator(method, path, status).iter_errors(body), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def assert_is_error_data(body: Any) -> None:
    """The spec's ``ErrorData``, which every error of every operation is."""
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/ErrorData", "components": _spec()["components"]}
    )
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
