"""Narrow corrections of schemathesis checks where they misread this API, as ``filter_failure``
hooks. Each drops one kind of false failure, says why, and keeps everything else; they apply to
every target, the real service included, since they are about the checks, not the simulator.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemathesis import Case, HookContext, Response
    from schemathesis.core.failures import Failure

__all__ = ["CHECK_RULES"]

_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
_VIOLATION = re.compile(r"violates `(?P<keyword>[^`]+)` at /properties/(?P<name>[^\s/]+)")


def _checks(failure: Failure) -> tuple[str, ...]:
    return tuple(type(failure).checks)


def about_the_path_resource(
    context: HookContext, failure: Failure, case: Case[Any], response: Response
) -> bool:
    """Keep an ``ensure_resource_availability`` failure only when the 404 is about the resource
    in the path. Together's error names the field it is about (``param``); a 404 naming a body
    field (``volumes.0.name``: a volume to mount that does not exist) says nothing about the
    deployment just created, which the check would otherwise conclude."""
    if "ensure_resource_availability" not in _checks(failure):
        return True
    try:
        param = json.loads(response.content or b"{}").get("error", {}).get("param")
    except (ValueError, AttributeError):
        return True
    path_names = {p.name for p in case.operation.iter_parameters() if p.location == "path"}
    return not param or str(param).split(".")[0] in path_names


def form_text_is_a_string(
    context: HookContext, failure: Failure, case: Case[Any], response: Response
) -> bool:
    """Keep a ``negative_data_rejection`` failure on a form body unless its only violations are
    of ``type`` in string fields: every value of a form is text on the wire, so ``file_name``
    sent as ``-216276916438107.0`` is the string it looks like, not the number the check
    generated."""
    if "negative_data_rejection" not in _checks(failure):
        return True
    if (case.media_type or "").split(";")[0].strip().lower() not in _FORMS:
        return True
    body = case.operation.body
    schemas = [b.definition.get("schema", {}) for b in body if b.media_type == case.media_type]
    properties = schemas[0].get("properties", {}) if schemas else {}
    violations = list(_VIOLATION.finditer(failure.message))
    return not violations or not all(
        v["keyword"] == "type" and properties.get(v["name"], {}).get("type") == "string"
        for v in violations
    )


CHECK_RULES = (about_the_path_resource, form_text_is_a_string)
