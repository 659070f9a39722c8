"""The drift report: where the real service, as recorded, differs from the spec and from the
simulator. ``together-sim drift DIR``, and written as ``drift.md``/``drift.json`` when a
recording ends.

Per operation (the spec's path template when the spec has it): statuses the spec does not
declare, fields it does not declare (and whether the simulator returns them too), required
fields that are missing, values of the wrong type; then against the simulator's answers to the
same requests (``sim_check.py``): different statuses, fields it lacks or has alone, different
types. Fields are compared over all answers of an operation with the same status on both
sides, so a field that only a finished job has is not reported because an early poll lacked it.
Requests to another host (the presigned upload) are compared with the simulator only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mock_server import __version__
from mock_server.record.cassette import Cassette, Exchange
from mock_server.record.matching import template
from mock_server.record.sim_check import Answer, answer_value, compare_shapes, shape, simulate
from mock_server.record.spec_check import Reply, conform, find_reply

__all__ = ["build_report"]

_CATEGORIES = (
    "undocumented_statuses",
    "undocumented_content_types",
    "fields_not_in_spec",
    "missing_required",
    "type_mismatches",
    "status_differences",
    "fields_simulator_lacks",
    "fields_only_simulator_has",
    "type_differences",
)


def _load_spec() -> tuple[Mapping[str, Any] | None, str]:
    from openapi.locate import SpecError, find_spec_path, sha256_file
    from openapi.spec import load_spec

    try:
        path = find_spec_path(allow_download=False)
        return load_spec(path), f"{path} (sha256 {sha256_file(path)})"
    except SpecError as exc:
        return None, f"not found, spec checks skipped: {exc}"


class _Operation:
    def __init__(self, name: str, scope: str, in_spec: bool) -> None:
        self.name, self.scope, self.in_spec = name, scope, in_spec
        self.exchanges: list[int] = []
        self.found: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in _CATEGORIES}
        self.not_compared: dict[str, list[int]] = {}
        self.real_shape: dict[str, set[str]] = {}
        self.sim_shape: dict[str, set[str]] = {}

    def note(self, category: str, key: str, seq: int, **details: Any) -> None:
        entry = self.found[category].setdefault(key, {**details, "exchanges": []})
        if seq not in entry["exchanges"]:
            entry["exchanges"].append(seq)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "operation": self.name,
            "scope": self.scope,
            "in_spec": self.in_spec,
            "exchanges": self.exchanges,
        }
        for category in _CATEGORIES:
            out[category] = [self.found[category][k] for k in sorted(self.found[category])]
        out["not_compared"] = [
            {"reason": reason, "exchanges": seqs} for reason, seqs in self.not_compared.items()
        ]
        return out

    @property
    def drifts(self) -> bool:
        return (self.scope == "api" and not self.in_spec) or any(self.found.values())


def _operation_for(
    exchange: Exchange, spec: Mapping[str, Any] | None, ops: dict[str, _Operation]
) -> tuple[_Operation, Reply | None]:
    request, response = exchange.request, exchange.response
    reply = None
    if request.origin is None and spec is not None:
        status = response.status if response else 0
        content_type = response.headers.get("content-type", "") if response else ""
        reply = find_reply(spec, request.method, request.path, status, content_type)
    if request.origin is not None:
        name, scope = f"{request.method} {request.origin}{template(request.path)}", "other-host"
    elif reply is not None and reply.operation is not None:
        name, scope = f"{request.method} {reply.operation.route}", "api"
    else:
        name, scope = f"{request.method} {template(request.path)}", "api"
    in_spec = reply is not None and reply.operation is not None
    op = ops.setdefault(name, _Operation(name, scope, in_spec))
    op.exchanges.append(exchange.seq)
    return op, reply


def _check_spec(op: _Operation, reply: Reply, exchange: Exchange) -> None:
    response = exchange.response
    assert response is not None
    seq = exchange.seq
    if not reply.status_declared:
        op.note("undocumented_statuses", str(response.status), seq, status=response.status)
        return
    if not reply.content_type_declared:
        media = response.headers.get("content-type", "").split(";")[0].strip() or "(none)"
        key = f"{response.status} {media}"
        op.note("undocumented_content_types", key, seq, status=response.status, content_type=media)
        return
    value = answer_value(response.body)
    if reply.schema is None or value is None:
        return
    schema = reply.schema
    if response.body.get("kind") == "sse":
        schema = {"type": "array", "items": schema}
    for finding in conform(value, schema):
        if finding.kind == "extra_field":
            op.note("fields_not_in_spec", finding.path, seq, path=finding.path, type=finding.actual)
        elif finding.kind == "missing_required":
            op.note("missing_required", finding.path, seq, path=finding.path)
        else:
            key = f"{finding.path} {finding.expected} {finding.actual}"
            op.note(
                "type_mismatches",
                key,
                seq,
                path=finding.path,
                expected=finding.expected,
                actual=finding.actual,
            )


def _merge(into: dict[str, set[str]], more: dict[str, set[str]]) -> None:
    for path, types in more.items():
        into.setdefault(path, set()).update(types)


def _compare_with_simulator(op: _Operation, exchange: Exchange, answer: Answer) -> None:
    response = exchange.response
    assert response is not None
    if answer.status is None:
        op.not_compared.setdefault(answer.skipped or "not sent", []).append(exchange.seq)
        return
    if answer.status != response.status:
        key = f"{response.status} {answer.status}"
        op.note(
            "status_differences", key, exchange.seq, real=response.status, simulator=answer.status
        )
        return
    real = answer_value(response.body)
    if real is not None:
        _merge(op.real_shape, shape(real))
    if answer.value is not None:
        _merge(op.sim_shape, shape(answer.value))


def _shape_differences(op: _Operation) -> None:
    differences = compare_shapes(op.real_shape, op.sim_shape)
    for path, types in differences.simulator_lacks.items():
        op.found["fields_simulator_lacks"][path] = {"path": path, "type": types}
    for path, types in differences.only_simulator_has.items():
        op.found["fields_only_simulator_has"][path] = {"path": path, "type": types}
    for path, (real, sim) in differences.types.items():
        op.found["type_differences"][path] = {"path": path, "real": real, "simulator": sim}
    for entry in op.found["fields_not_in_spec"].values():
        entry["simulator_has_it"] = entry["path"] in op.sim_shape


def build_report(cassette: Cassette, *, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The drift report of a cassette, as JSON-able data."""
    spec_note = "given"
    if spec is None:
        spec, spec_note = _load_spec()
    try:
        answers: dict[int, Answer] | None = simulate(cassette)
        sim_note = f"together-sim {__version__}, in process"
    except Exception as exc:  # the report still says what the spec check found
        answers, sim_note = None, f"comparison failed: {type(exc).__name__}: {exc}"
    ops: dict[str, _Operation] = {}
    unreachable: list[int] = []
    for exchange in cassette.exchanges:
        op, reply = _operation_for(exchange, spec, ops)
        if exchange.response is None:
            unreachable.append(exchange.seq)
            continue
        if reply is not None and reply.operation is not None:
            _check_spec(op, reply, exchange)
        if answers is not None:
            _compare_with_simulator(op, exchange, answers[exchange.seq])
    for op in ops.values():
        _shape_differences(op)
    ordered = sorted(ops.values(), key=lambda o: min(o.exchanges))
    return {
        "cassette": str(cassette.root),
        "target": cassette.target,
        "exchanges": len(cassette.exchanges),
        "spec": spec_note,
        "simulator": sim_note,
        "operations": [op.to_json() for op in ordered if op.drifts],
        "not_in_spec": [op.name for op in ordered if op.scope == "api" and not op.in_spec],
        "conforming": [op.name for op in ordered if not op.drifts],
        "unreachable": unreachable,
    }
