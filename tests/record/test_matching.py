"""Which recorded exchange answers a replayed request: templates, exact ids first, recorded
order for polling, the fields that matter, and a miss that names the nearest recording."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.record.cassette import Exchange, RecordedRequest, RecordedResponse
from mock_server.record.matching import Matcher, Miss, is_id, key_of, template

JOB = "ft-6c5a2f3e-1b2c-4d5e-8f90-0123456789ab"
OTHER_JOB = "ft-00000000-1b2c-4d5e-8f90-0123456789ab"


def _exchange(
    seq: int,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: dict[str, Any] | None = None,
    origin: str | None = None,
    answer: Any = None,
) -> Exchange:
    request = RecordedRequest(
        method=method,
        path=path,
        query=query or [],
        headers={},
        body={"kind": "json", "json": body} if body is not None else {"kind": "empty"},
        origin=origin,
    )
    response = RecordedResponse(200, {}, {"kind": "json", "json": answer})
    return Exchange(seq, "", 0, request, response)


def _ask(matcher: Matcher, method: str, path: str, **kwargs: Any) -> Exchange | Miss:
    body = kwargs.pop("body", None)
    request_body = {"kind": "json", "json": body} if body is not None else {"kind": "empty"}
    return matcher.match(
        key_of(method, kwargs.pop("origin", None), path, kwargs.pop("query", []), request_body)
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/v1/fine-tunes/{JOB}/events", "/v1/fine-tunes/{id}/events"),
        ("/v1/files/file-7a1b2c3d4e/preprocess", "/v1/files/{id}/preprocess"),
        ("/v1/fine-tunes/models/limits", "/v1/fine-tunes/models/limits"),
        ("/v1/fine-tunes/estimate-price", "/v1/fine-tunes/estimate-price"),
        ("/v1/finetune/download", "/v1/finetune/download"),
    ],
)
def test_ids_in_a_path_become_placeholders_and_words_stay(path, expected):
    assert template(path) == expected


def test_model_names_and_words_are_not_ids():
    assert not is_id("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    assert not is_id("estimate-price")
    assert is_id(JOB)
    assert is_id("42")


def test_polling_replays_the_recorded_states_in_order_then_repeats_the_last():
    states = ["pending", "running", "completed"]
    matcher = Matcher(
        _exchange(i, "GET", f"/v1/fine-tunes/{JOB}", answer={"status": s})
        for i, s in enumerate(states, 1)
    )

    seen = [_ask(matcher, "GET", f"/v1/fine-tunes/{JOB}") for _ in range(5)]

    assert [e.response.body["json"]["status"] for e in seen] == [  # type: ignore[union-attr]
        "pending",
        "running",
        "completed",
        "completed",
        "completed",
    ]


def test_exact_ids_come_first_and_unknown_ids_fall_back_to_recorded_order():
    matcher = Matcher(
        [
            _exchange(1, "GET", f"/v1/fine-tunes/{OTHER_JOB}", answer={"id": OTHER_JOB}),
            _exchange(2, "GET", f"/v1/fine-tunes/{JOB}", answer={"id": JOB}),
        ]
    )

    exact = _ask(matcher, "GET", f"/v1/fine-tunes/{JOB}")
    unknown = _ask(matcher, "GET", "/v1/fine-tunes/ft-99999999-aaaa-bbbb-cccc-0123456789ab")

    assert isinstance(exact, Exchange) and exact.seq == 2
    assert isinstance(unknown, Exchange) and unknown.seq == 1  # the first not yet used


def test_body_fields_that_matter_decide_and_volatile_ones_do_not():
    create = {"training_file": "file-aaaa1111", "model": "m1", "suffix": "run-1700000000"}
    matcher = Matcher(
        [
            _exchange(1, "POST", "/v1/fine-tunes", body=create),
            _exchange(2, "POST", "/v1/fine-tunes", body={**create, "model": "m2"}),
        ]
    )

    same_but_suffix = _ask(matcher, "POST", "/v1/fine-tunes", body={**create, "suffix": "run-2"})
    other_model = _ask(matcher, "POST", "/v1/fine-tunes", body={**create, "model": "m2"})

    assert isinstance(same_but_suffix, Exchange) and same_but_suffix.seq == 1
    assert isinstance(other_model, Exchange) and other_model.seq == 2


def test_a_chat_with_other_messages_is_a_miss_rather_than_a_wrong_answer():
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    matcher = Matcher([_exchange(3, "POST", "/v1/chat/completions", body=chat)])

    miss = _ask(
        matcher,
        "POST",
        "/v1/chat/completions",
        body={**chat, "messages": [{"role": "user", "content": "bye"}]},
    )

    assert isinstance(miss, Miss)
    assert miss.message == (
        "together-sim replay: no recorded response for POST /v1/chat/completions; "
        "nearest recorded: #3 POST /v1/chat/completions (differs in body field messages)"
    )


def test_a_miss_names_the_nearest_recording_by_path():
    matcher = Matcher(
        [
            _exchange(1, "GET", f"/v1/fine-tunes/{JOB}"),
            _exchange(2, "GET", f"/v1/fine-tunes/{JOB}/events"),
            _exchange(3, "POST", "/v1/chat/completions"),
        ]
    )

    miss = _ask(matcher, "GET", f"/v1/fine-tunes/{JOB}/checkpoints")

    assert isinstance(miss, Miss)
    assert miss.nearest is not None and miss.nearest.seq == 2
    assert miss.differences == (f"path /v1/fine-tunes/{JOB}/events",)


def test_a_replayed_presigned_url_matches_despite_its_redacted_signature():
    storage = "https://bucket.example.com"
    matcher = Matcher(
        [
            _exchange(
                2,
                "PUT",
                "/u/file-abcd1234",
                origin=storage,
                query=[("X-Amz-Signature", "REDACTED")],
            )
        ]
    )

    found = _ask(
        matcher, "PUT", "/u/file-abcd1234", origin=storage, query=[("X-Amz-Signature", "REDACTED")]
    )
    elsewhere = _ask(matcher, "PUT", "/u/file-abcd1234")

    assert isinstance(found, Exchange) and found.seq == 2
    assert isinstance(elsewhere, Miss)
    assert elsewhere.differences == (f"host {storage}",)
