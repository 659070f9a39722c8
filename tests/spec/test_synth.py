"""Bodies built from the spec (``mock_server.spec.synth``) and non-JSON bytes
(``mock_server.spec.media``)."""

from __future__ import annotations

import io
import json
import wave
from typing import Any

import pytest

from mock_server.spec.index import SpecOperation, operation_index
from mock_server.spec.media import binary_body, choose_content_type, sse_body
from mock_server.spec.synth import echo, synthesize
from mock_server.spec.validate import first_error
from openapi.locate import SpecNotFound


def _operations() -> list[SpecOperation]:
    try:
        return list(operation_index().operations)
    except SpecNotFound:
        return []


OPERATIONS = _operations()
needs_spec = pytest.mark.skipif(not OPERATIONS, reason="the pinned spec is not available here")


@needs_spec
@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
def test_every_operations_success_body_is_valid_against_its_schema(op: SpecOperation) -> None:
    reply = op.success
    schemas = {ctype: schema for ctype, schema in reply.content.items() if schema is not None}
    if not schemas:  # 204 and the WebSocket upgrades (101) document no body
        assert reply.status in ("204", "101")
        return
    for ctype, schema in schemas.items():
        error = first_error(synthesize(schema), schema)
        where = (error.message, list(error.absolute_path)) if error else None
        assert where is None, f"{ctype}: {where}"


@needs_spec
def test_a_body_is_the_same_every_time_and_each_caller_gets_its_own_copy() -> None:
    schema = next(op for op in OPERATIONS if op.path == "/fine-tunes/{id}" and op.method == "GET")
    body_schema = schema.success.content["application/json"]
    assert body_schema is not None
    first, second = synthesize(body_schema), synthesize(body_schema)
    assert first == second
    first["status"] = "changed"
    assert synthesize(body_schema)["status"] != "changed"


def test_a_valid_example_is_preferred_and_an_invalid_one_ignored() -> None:
    good = {"type": "object", "properties": {"n": {"type": "integer"}}, "example": {"n": 7}}
    bad = {
        "type": "object",
        "properties": {"n": {"type": "integer", "example": 3}},
        "example": {"n": "x"},
    }
    assert synthesize(good) == {"n": 7}
    assert synthesize(bad) == {"n": 3}


def test_values_follow_consts_enums_formats_bounds_and_required_fields() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["object", "undescribed"],
        "properties": {
            "object": {"const": "list"},
            "status": {"type": "string", "enum": [None, "queued"]},
            "at": {"type": "string", "format": "date-time"},
            "rank": {"type": "integer", "minimum": 8, "maximum": 64},
            "ratio": {"type": ["number", "null"], "maximum": -1},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "code": {"type": "string", "minLength": 8},
        },
    }
    value = synthesize(schema)
    assert value == {
        "object": "list",
        "status": "queued",
        "at": "2025-01-01T00:00:00Z",
        "rank": 8,
        "ratio": -1.0,
        "tags": ["string", "string"],
        "code": "stringxx",
        "undescribed": "string",
    }
    assert first_error(value, schema) is None


def test_echo_copies_what_the_request_said_where_it_is_valid() -> None:
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "n_epochs": {"type": "integer"},
            "model": {"type": "string"},
        },
    }
    value = echo(synthesize(schema), schema, {"id": "ft-123", "n_epochs": "three", "suffix": "x"})
    assert value == {"id": "ft-123", "n_epochs": 0, "model": "string"}


# --- media -----------------------------------------------------------------------------------


def test_wav_bytes_open_as_a_wave_file() -> None:
    with wave.open(io.BytesIO(binary_body("audio/wav"))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24_000)
        assert wav.getnframes() == 2_400


def test_mpeg_bytes_are_whole_frames_with_valid_headers() -> None:
    data = binary_body("audio/mpeg")
    assert len(data) % 417 == 0
    for start in range(0, len(data), 417):
        header = data[start : start + 4]
        assert header[0] == 0xFF and header[1] & 0xE0 == 0xE0  # frame sync
        assert (header[1] >> 3) & 0b11 == 0b11 and (header[1] >> 1) & 0b11 == 0b01  # MPEG-1 L3


def test_server_sent_events_carry_json_data_and_the_done_sentinel() -> None:
    body = sse_body([{"data": {"id": "c1", "choices": []}}, {"data": "[DONE]"}]).decode()
    events = [block for block in body.split("\n\n") if block]
    assert events == ['data: {"id":"c1","choices":[]}', "data: [DONE]"]
    assert json.loads(events[0].removeprefix("data: ")) == {"id": "c1", "choices": []}


@pytest.mark.parametrize(
    ("body", "accept", "expected"),
    [
        ({"stream": True}, "application/json", "text/event-stream"),
        ({"response_format": "mp3"}, "application/octet-stream", "audio/mpeg"),
        ({"response_format": "wav"}, "", "audio/wav"),
        ({}, "application/octet-stream", "application/octet-stream"),
        ({}, "*/*", "application/json"),
        (None, "application/json", "application/json"),
    ],
)
def test_the_content_type_follows_stream_then_format_then_accept(
    body: Any, accept: str, expected: str
) -> None:
    offered = [
        "application/json",
        "application/octet-stream",
        "audio/wav",
        "audio/mpeg",
        "text/event-stream",
    ]
    assert choose_content_type(offered, body, accept) == expected


def test_a_reply_without_content_has_no_content_type() -> None:
    assert choose_content_type([], {"stream": True}, "*/*") is None
