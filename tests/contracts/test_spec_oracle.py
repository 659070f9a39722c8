"""The client-fuzz judge's oracle (``contracts.spec_oracle``) on its own: how it finds operations,
reads schemas and requests, and that it owes nothing to the simulator's reading of the spec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from contracts.client_fuzz import Exchange, judge
from contracts.spec_oracle import SpecOracle, spec_oracle

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def oracle() -> SpecOracle:
    return spec_oracle()


def _exchange(
    method: str,
    path: str,
    status: int,
    answer: object,
    *,
    query: str = "",
    body: object = None,
    media: str = "application/json",
) -> Exchange:
    content = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    return Exchange(
        method=method,
        path=path,
        query=query,
        headers=httpx.Headers({"content-type": "application/json"} if body is not None else {}),
        body=b"" if body is None else json.dumps(body).encode(),
        status=status,
        response_headers=httpx.Headers({"content-type": media}),
        content=content,
    )


def test_the_judge_and_its_oracle_import_nothing_from_the_simulator() -> None:
    """Imported in a fresh interpreter, the judging modules bring in no ``mock_server`` module:
    the simulator's reading of the spec cannot be the judge's."""
    code = (
        "import sys, contracts.spec_oracle, contracts.spec_schemas\n"
        "import contracts.client_fuzz, contracts.client_fuzz_v1, contracts.fuzz_arguments\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mock_server'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_operations_are_found_by_their_own_routes(oracle: SpecOracle) -> None:
    found = oracle.match("GET", "/v1/fine-tunes/ft-1/events")
    assert found is not None and found[0].path == "/fine-tunes/{id}/events"
    assert found[1] == {"id": "ft-1"}
    # A literal path is never a template's value (``secrets`` is no deployment id) ...
    secret = oracle.match("GET", "/v1/deployments/secrets/abc")
    assert secret is not None and secret[0].path == "/deployments/secrets/{id}"
    assert oracle.match("DELETE", "/v1/deployments/secrets") is None
    # ... and an operation with its own server is found under that server's path only.
    video = oracle.match("POST", "/v2/videos")
    assert video is not None and video[0].name == "createVideo"
    assert oracle.match("POST", "/v1/videos") is None
    assert oracle.match("GET", "/v1/no/such/thing") is None


def _tiny(schemas: dict[str, object]) -> SpecOracle:
    """An oracle over a one-operation document whose components are ``schemas``."""
    return SpecOracle(
        {
            "openapi": "3.1.0",
            "servers": [{"url": "https://example.invalid/v1"}],
            "paths": {"/things": {"get": {"responses": {"200": {"description": "ok"}}}}},
            "components": {"schemas": schemas},
        }
    )


def test_nullable_admits_null_and_nothing_else() -> None:
    """``nullable: true`` (OpenAPI 3.0, still in this 3.1 document) is read as JSON Schema's null;
    the value beside it keeps its own schema, and a reference beside it is still followed."""
    oracle = _tiny(
        {
            "Name": {"type": "string", "nullable": True, "minLength": 2},
            "Shape": {"type": "string", "enum": ["round", "square"]},
            "Maybe": {"$ref": "#/components/schemas/Shape", "nullable": True},
        }
    )
    for pointer in ("/components/schemas/Name", "/components/schemas/Maybe"):
        assert oracle.first_error(None, pointer) is None
        assert oracle.first_error(3, pointer) is not None
    assert oracle.first_error("ab", "/components/schemas/Name") is None
    assert oracle.first_error("a", "/components/schemas/Name") is not None
    assert oracle.first_error("round", "/components/schemas/Maybe") is None
    assert oracle.first_error("oval", "/components/schemas/Maybe") is not None


def test_one_of_means_exactly_one(oracle: SpecOracle) -> None:
    """The spec's ``oneOf`` is not read as a union here: a value two variants admit breaks it.
    The overlay, not the oracle, is where a ``oneOf`` that cannot hold is relaxed."""
    tiny = _tiny({"Either": {"oneOf": [{"type": "object"}, {"type": "object", "required": ["a"]}]}})
    assert tiny.first_error([], "/components/schemas/Either") is not None  # neither
    assert tiny.first_error({"b": 1}, "/components/schemas/Either") is None  # one
    assert tiny.first_error({"a": 1}, "/components/schemas/Either") is not None  # both
    # In the pinned spec: cosine arguments match the open linear ones too, so the overlay reads
    # that oneOf as anyOf, in the open.
    args = oracle.at("/components/schemas/LRScheduler/properties/lr_scheduler_args")
    assert "anyOf" in args and "oneOf" not in args


def test_formats_that_constrain_are_asserted() -> None:
    oracle = _tiny(
        {
            "When": {"type": "string", "format": "date-time"},
            "Count": {"type": "integer", "format": "int32"},
            "Ratio": {"type": "number", "format": "float"},
        }
    )
    when, count = "/components/schemas/When", "/components/schemas/Count"
    assert oracle.first_error("2024-01-01T12:00:00Z", when) is None
    assert oracle.first_error("2024-01-01 12:00:00.5+02:00", when) is None
    for broken in ("2024-01-01T12:99:00Z", "2024-01-01T12:00:00", "yesterday"):
        error = oracle.first_error(broken, when)
        assert error is not None and error.validator == "format", broken
    assert oracle.first_error(2**31 - 1, count) is None
    assert oracle.first_error(2**31, count) is not None
    assert oracle.first_error(1e300, "/components/schemas/Ratio") is None  # a hint, not a bound


def test_stream_events_are_held_to_the_chunk_their_data_holds(oracle: SpecOracle) -> None:
    """An SSE event's ``data`` is JSON text; the overlay's ``contentSchema`` says which chunk it
    holds, and the oracle asserts it (JSON Schema leaves that optional)."""
    stream = oracle.by_key("POST", "/chat/completions").success["text/event-stream"]
    assert stream is not None
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "x"}, "finish_reason": None}
        ],
    }
    assert oracle.first_error({"data": json.dumps(chunk)}, stream) is None
    assert oracle.first_error({"data": "[DONE]"}, stream) is None
    assert oracle.first_error({"data": json.dumps({"id": "c"})}, stream) is not None
    assert oracle.first_error({"data": "{not json"}, stream) is not None


def test_request_values_are_read_as_their_types(oracle: SpecOracle) -> None:
    found = oracle.match("GET", "/v1/rl/training-sessions")
    assert found is not None
    op, params = found
    problem = oracle.request_problem(op, path=params, query="limit=5", headers={}, body=b"")
    assert problem is None
    problem = oracle.request_problem(op, path=params, query="limit=many", headers={}, body=b"")
    assert problem is not None and problem.startswith("limit")


def test_the_judge_flags_off_spec_answers_and_accepted_off_spec_requests(
    oracle: SpecOracle,
) -> None:
    exploded = _exchange("GET", "/v1/fine-tunes/ft-1", 200, {"id": "ft-1", "status": "exploded"})
    assert any("breaks the schema" in p for p in judge(oracle, exploded))
    wizard = {"model": "m", "messages": [{"role": "wizard", "content": "x"}]}
    accepted = _exchange("POST", "/v1/chat/completions", 200, {}, body=wizard)
    assert any("invalid per the spec" in p for p in judge(oracle, accepted))
    undocumented = _exchange("GET", "/v1/fine-tunes/ft-1", 418, {"error": {}})
    assert any("status is not documented" in p for p in judge(oracle, undocumented))
    not_json = _exchange("GET", "/v1/fine-tunes/ft-1", 200, b"<html>")
    assert any("not the JSON" in p for p in judge(oracle, not_json))
