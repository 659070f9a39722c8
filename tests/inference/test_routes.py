"""``/v1/chat/completions`` and ``/v1/completions``: base models, the output names of completed
jobs, Together's 404 for anything else, and SSE streams that add up to the plain answer."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from mock_server.core.tokens import count_tokens
from mock_server.inference.models import prompt_text
from tests.steps import BASE_MODEL, advance, auth, conversations, create_job, upload

HELLO = [{"role": "user", "content": "Hello"}]


def _chat(client: TestClient, model: str, **fields: Any) -> Any:
    body = {"model": model, "messages": HELLO, **fields}
    return client.post("/v1/chat/completions", headers=auth(), json=body)


def _events(text: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    blocks = [b for b in text.split("\n\n") if b]
    assert all(b.startswith("data: ") for b in blocks)
    return [b.removeprefix("data: ") for b in blocks]


def _finished_job(client: TestClient) -> dict[str, Any]:
    job = create_job(client, upload(client, conversations(8))["id"])
    advance(client, 1000)
    return job


def test_chat_on_a_base_model_answers_in_the_openai_shape(client: TestClient) -> None:
    answered = _chat(client, BASE_MODEL)
    assert answered.status_code == 200
    body = answered.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == BASE_MODEL
    assert body["created"] == 1767225600
    assert body["id"].startswith("chatcmpl-")
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    text = choice["message"]["content"]
    assert text
    assert body["usage"] == {
        "prompt_tokens": count_tokens(prompt_text(HELLO)),
        "completion_tokens": count_tokens(text),
        "total_tokens": count_tokens(prompt_text(HELLO)) + count_tokens(text),
    }


def test_the_same_request_gets_the_same_answer(client: TestClient) -> None:
    first = _chat(client, BASE_MODEL, seed=7).json()["choices"][0]["message"]["content"]
    again = _chat(client, BASE_MODEL, seed=7).json()["choices"][0]["message"]["content"]
    assert first == again


def test_chat_on_a_completed_jobs_output_name_answers_differently(client: TestClient) -> None:
    job = _finished_job(client)
    tuned = _chat(client, job["model_output_name"])
    assert tuned.status_code == 200
    assert tuned.json()["model"] == job["model_output_name"]
    base = _chat(client, BASE_MODEL)
    assert (
        tuned.json()["choices"][0]["message"]["content"]
        != base.json()["choices"][0]["message"]["content"]
    )


def test_an_unknown_model_is_a_404_with_model_not_available(client: TestClient) -> None:
    refused = _chat(client, "acme/not-a-model")
    assert refused.status_code == 404
    assert refused.json() == {
        "error": {
            "message": "Unable to access model acme/not-a-model. Please visit "
            "https://api.together.ai/models to view the list of supported models.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_available",
        }
    }


def test_an_unfinished_jobs_output_name_is_not_available_yet(client: TestClient) -> None:
    job = create_job(client, upload(client, conversations(8))["id"])
    advance(client, 60)
    refused = _chat(client, job["model_output_name"])
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "model_not_available"


def test_another_tenants_output_name_is_not_available(client: TestClient) -> None:
    job = _finished_job(client)
    refused = client.post(
        "/v1/chat/completions",
        headers=auth("other-key"),
        json={"model": job["model_output_name"], "messages": HELLO},
    )
    assert refused.status_code == 404


def test_a_streamed_chat_ends_with_done_and_adds_up_to_the_plain_answer(
    client: TestClient,
) -> None:
    plain = _chat(client, BASE_MODEL).json()
    streamed = _chat(client, BASE_MODEL, stream=True)
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    payloads = _events(streamed.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["id"] for c in chunks} == {plain["id"]}
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert text == plain["choices"][0]["message"]["content"]
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["usage"] == plain["usage"]


def test_max_tokens_caps_the_answer_and_finishes_with_length(client: TestClient) -> None:
    capped = _chat(client, BASE_MODEL, max_tokens=3).json()
    assert capped["choices"][0]["finish_reason"] == "length"
    assert capped["usage"]["completion_tokens"] <= 3


def test_max_tokens_1_answers_one_token_in_chat_and_completions(client: TestClient) -> None:
    chat = _chat(client, BASE_MODEL, max_tokens=1).json()
    text = client.post(
        "/v1/completions",
        headers=auth(),
        json={"model": BASE_MODEL, "prompt": "Once upon a time", "max_tokens": 1},
    ).json()

    for answer, said in ((chat, chat["choices"][0]["message"]["content"]),
                         (text, text["choices"][0]["text"])):  # fmt: skip
        assert said != ""
        assert count_tokens(said) == answer["usage"]["completion_tokens"] == 1
        assert answer["choices"][0]["finish_reason"] == "length"


def test_an_empty_message_list_is_a_400(client: TestClient) -> None:
    refused = client.post(
        "/v1/chat/completions", headers=auth(), json={"model": BASE_MODEL, "messages": []}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "messages"


def test_text_completions_answer_and_stream_the_same_text(client: TestClient) -> None:
    body = {"model": BASE_MODEL, "prompt": "Once upon a time"}
    plain = client.post("/v1/completions", headers=auth(), json=body).json()
    assert plain["object"] == "text.completion"
    assert plain["usage"]["prompt_tokens"] == count_tokens("Once upon a time")
    streamed = client.post("/v1/completions", headers=auth(), json={**body, "stream": True})
    payloads = _events(streamed.text)
    assert payloads[-1] == "[DONE]"
    text = "".join(json.loads(p)["choices"][0]["text"] for p in payloads[:-1])
    assert text == plain["choices"][0]["text"]
