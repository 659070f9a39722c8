"""Batches, pure: the input format with its errors naming the line, the walk planned from the
batch's size, how many requests are answered by a moment, and the output and error lines."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest

from mock_server.batches.models import (
    BatchRequest,
    InputLineError,
    answered_at,
    check_create,
    parse_input,
    plan,
    processed_at,
    result_lines,
)
from mock_server.core.clock import utc
from mock_server.core.errors import InvalidRequest
from mock_server.core.lifecycle import status_at

CHAT = "/v1/chat/completions"
T0 = utc(2026, 1, 1)
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _file(*rows: object) -> bytes:
    return b"".join((r if isinstance(r, str) else json.dumps(r)).encode() + b"\n" for r in rows)


def test_together_lines_parse_with_their_line_numbers_and_blank_lines_skipped() -> None:
    data = _file(
        {"custom_id": "a", "body": BODY},
        "",
        {"custom_id": "b", "method": "POST", "url": CHAT, "body": BODY},
    )
    assert parse_input(data, CHAT) == [BatchRequest(1, "a", BODY), BatchRequest(3, "b", BODY)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", "Line 2: not valid JSON"),
        ([1, 2], "Line 2: must be a JSON object with custom_id and body"),
        ({"body": BODY}, "Line 2: custom_id is required (a non-empty string)"),
        ({"custom_id": "x" * 65, "body": BODY}, "Line 2: custom_id is longer than 64 characters"),
        ({"custom_id": "b"}, "Line 2: body is required (an object: the request to the endpoint)"),
        ({"custom_id": "a", "body": BODY}, "Line 2: custom_id 'a' repeats line 1"),
        (
            {"custom_id": "b", "method": "FILE", "body": BODY},
            "Line 2: method must be POST (got 'FILE')",
        ),
        (
            {"custom_id": "b", "url": "/v1/completions", "body": BODY},
            "Line 2: url must be /v1/chat/completions (got '/v1/completions')",
        ),
    ],
)
def test_a_bad_line_is_refused_by_its_number(row: object, message: str) -> None:
    with pytest.raises(InputLineError) as refused:
        parse_input(_file({"custom_id": "a", "body": BODY}, row), CHAT)
    assert (refused.value.message, refused.value.line, refused.value.param) == (
        message,
        2,
        "input_file_id",
    )


def test_audio_lines_may_say_method_file_and_an_empty_file_is_refused() -> None:
    line = {"custom_id": "a", "method": "FILE", "body": {"file": "https://x/a.wav"}}
    assert len(parse_input(_file(line), "/v1/audio/transcriptions")) == 1
    with pytest.raises(InvalidRequest, match="no requests"):
        parse_input(b"\n\n", CHAT)


def test_a_batch_needs_a_batch_endpoint_and_always_has_24_hours() -> None:
    assert check_create(CHAT, "24h") is None
    assert check_create(CHAT, "1h") == (
        "completion_window '1h' was ignored: a batch always has 24h to complete"
    )
    with pytest.raises(InvalidRequest) as refused:
        check_create("/v1/embeddings", None)
    assert refused.value.param == "endpoint"


def test_a_batch_validates_for_10_s_then_answers_one_request_every_half_second() -> None:
    walk = plan(4, T0, speed=1.0)
    at = [T0 + timedelta(seconds=s) for s in (0, 9.9, 10, 11.1, 12, 30)]
    assert [status_at(walk, t) for t in at] == [
        "VALIDATING",
        "VALIDATING",
        "IN_PROGRESS",
        "IN_PROGRESS",
        "COMPLETED",
        "COMPLETED",
    ]
    assert [processed_at(walk, 4, t) for t in at] == [0, 0, 0, 2, 4, 4]
    assert [answered_at(walk, 4, i) for i in range(4)] == [
        T0 + timedelta(seconds=10.5 + 0.5 * i) for i in range(4)
    ]


def test_speed_divides_the_walk_and_the_instant_clock_ends_it_after_the_create() -> None:
    assert status_at(plan(4, T0, speed=2.0), T0 + timedelta(seconds=6)) == "COMPLETED"
    instant = plan(4, T0, speed=math.inf)
    assert status_at(instant, T0) == "VALIDATING"  # what the create answers
    later = T0 + timedelta(microseconds=1)
    assert (status_at(instant, later), processed_at(instant, 4, later)) == ("COMPLETED", 4)


def test_answers_become_output_lines_and_failures_error_lines_with_their_custom_ids() -> None:
    requests = [BatchRequest(1, "ok", {}), BatchRequest(2, "bad", {})]

    def answer(request: BatchRequest, created: int) -> tuple[int, dict[str, object]]:
        if request.custom_id == "ok":
            return 200, {"created": created}
        return 404, {"error": {"message": "no such model", "code": "model_not_available"}}

    output, errors = result_lines("batch-1", requests, [T0, T0], answer)
    (line,), (error,) = [json.loads(x) for x in output], [json.loads(x) for x in errors]
    assert (line["custom_id"], line["response"]["status_code"], line["error"]) == ("ok", 200, None)
    assert line["response"]["body"] == {"created": int(T0.timestamp())}
    assert (error["custom_id"], error["response"]["status_code"]) == ("bad", 404)
    assert error["error"] == {"code": "model_not_available", "message": "no such model"}
    again, _ = result_lines("batch-1", requests, [T0, T0], answer)
    assert again == output  # line ids and request ids are derived, not drawn
