"""Batches over HTTP on the manual clock at the service's pace (10 s validating, then half a
second a request): upload a ``batch-api`` JSONL, create, watch it progress, download the output and
error files, cancel. Every body is checked against the spec's schema for its operation and status
(errors are the spec's ``BatchErrorResponse``, ``{"error": "..."}``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.settings import Settings
from tests.spec_schemas import assert_matches_spec
from tests.steps import BASE_MODEL, advance, auth, jsonl, upload

CHAT = "/v1/chat/completions"


def _line(custom_id: str, content: str, model: str = BASE_MODEL) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 40}
    return {"custom_id": custom_id, "body": body}


def _create(client: TestClient, rows: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    file = upload(client, jsonl(rows), name="batch_input.jsonl", purpose="batch-api")
    created = client.post(
        "/v1/batches",
        headers=auth(),
        json={"endpoint": CHAT, "input_file_id": file["id"], **fields},
    )
    assert created.status_code == 201, created.text
    assert_matches_spec(created.json(), "POST", "/batches", 201)
    job: dict[str, Any] = created.json()["job"]
    return job


def _get(client: TestClient, batch_id: str) -> dict[str, Any]:
    got = client.get(f"/v1/batches/{batch_id}", headers=auth())
    assert got.status_code == 200, got.text
    assert_matches_spec(got.json(), "GET", "/batches/{id}")
    batch: dict[str, Any] = got.json()
    return batch


def _lines(client: TestClient, file_id: str) -> list[dict[str, Any]]:
    content = client.get(f"/v1/files/{file_id}/content", headers=auth())
    assert content.status_code == 200
    return [json.loads(line) for line in content.text.splitlines()]


def _refused(response: Any, status: int, method: str, path: str) -> str:
    assert response.status_code == status, response.text
    assert_matches_spec(response.json(), method, path, status)
    message: str = response.json()["error"]
    return message


def test_a_batch_validates_runs_and_completes_with_a_line_per_request(
    client: TestClient,
) -> None:
    rows = [_line("q1", "What is AI?"), _line("q2", "Hello"), _line("q3", "Hi", "no/such-model")]
    job = _create(client, rows)
    assert (job["status"], job["progress"], job["model_id"]) == ("VALIDATING", 0.0, BASE_MODEL)
    assert job["job_deadline"] == "2026-01-02T00:00:00.000000Z"  # 24 h after creation

    advance(client, 10)
    assert (_get(client, job["id"])["status"], _get(client, job["id"])["progress"]) == (
        "IN_PROGRESS",
        0.0,
    )
    advance(client, 1)
    assert _get(client, job["id"])["progress"] == 66.67  # two of three answered
    advance(client, 0.5)
    done = _get(client, job["id"])
    assert (done["status"], done["progress"]) == ("COMPLETED", 100.0)
    assert done["completed_at"] == "2026-01-01T00:00:11.500000Z"

    output = _lines(client, done["output_file_id"])
    assert [line["custom_id"] for line in output] == ["q1", "q2"]
    live = client.post("/v1/chat/completions", headers=auth(), json=rows[0]["body"]).json()
    answer = output[0]["response"]["body"]
    assert answer["choices"] == live["choices"]  # the live route's answer, word for word
    assert answer["usage"] == live["usage"]
    assert answer["created"] == 1767225610  # when the batch answered it: 10.5 s in
    (failure,) = _lines(client, done["error_file_id"])
    assert (failure["custom_id"], failure["response"]["status_code"]) == ("q3", 404)
    assert failure["error"]["code"] == "model_not_available"
    too_late = client.post(f"/v1/batches/{job['id']}/cancel", headers=auth())
    message = _refused(too_late, 400, "POST", "/batches/{id}/cancel")
    assert message.endswith("is COMPLETED: only a VALIDATING or IN_PROGRESS batch can be cancelled")
    listed = client.get("/v1/files", headers=auth()).json()["data"]
    assert {f["purpose"] for f in listed if f["id"] == done["output_file_id"]} == {
        "batch-generated"
    }


def test_a_cancelled_batch_keeps_the_answers_it_had_given(client: TestClient) -> None:
    job = _create(client, [_line(f"q{i}", f"Question {i}") for i in range(4)])
    advance(client, 11)  # two answered
    cancelled = client.post(f"/v1/batches/{job['id']}/cancel", headers=auth())
    assert cancelled.status_code == 200
    assert_matches_spec(cancelled.json(), "POST", "/batches/{id}/cancel")
    assert (cancelled.json()["status"], cancelled.json()["progress"]) == ("CANCELLED", 50.0)
    advance(client, 60)
    batch = _get(client, job["id"])
    assert batch["status"] == "CANCELLED"
    assert [line["custom_id"] for line in _lines(client, batch["output_file_id"])] == ["q0", "q1"]
    again = client.post(f"/v1/batches/{job['id']}/cancel", headers=auth())
    assert (again.status_code, again.json()) == (200, batch)  # a second cancel changes nothing


def test_a_file_with_a_bad_line_is_refused_naming_the_line(client: TestClient) -> None:
    rows = [_line("q1", "Hi"), {"custom_id": "q2", "body": "not an object"}]
    file = upload(client, jsonl(rows), name="batch_input.jsonl", purpose="batch-api")
    assert file["processing_status"] == "INVALID_FORMAT"
    assert file["validation_report"]["line_number"] == 2
    created = client.post(
        "/v1/batches", headers=auth(), json={"endpoint": CHAT, "input_file_id": file["id"]}
    )
    assert (
        _refused(created, 400, "POST", "/batches")
        == "Line 2: body is required (an object: the request to the endpoint)"
    )


def test_a_batch_needs_a_batch_api_file_and_a_batch_endpoint(client: TestClient) -> None:
    tuning = upload(client, jsonl([{"text": "hello"}]), purpose="fine-tune")
    attempts = {
        "purpose": {"endpoint": CHAT, "input_file_id": tuning["id"]},
        "endpoint": {"endpoint": "/v1/embeddings", "input_file_id": tuning["id"]},
        "schema": {"endpoint": CHAT},
    }
    messages = {
        name: _refused(
            client.post("/v1/batches", headers=auth(), json=body), 400, "POST", "/batches"
        )
        for name, body in attempts.items()
    }
    assert messages["purpose"].endswith(
        "purpose fine-tune; a batch reads a file uploaded with purpose batch-api"
    )
    assert messages["endpoint"].startswith('endpoint: must be one of "/v1/chat/completions"')
    assert messages["schema"] == "input_file_id is required"
    missing = client.post(
        "/v1/batches", headers=auth(), json={"endpoint": CHAT, "input_file_id": "file-nope"}
    )
    assert missing.status_code == 404  # as a fine-tune's unknown training_file
    assert missing.json() == {"error": "File file-nope not found"}


def test_a_batch_whose_input_file_is_deleted_before_it_runs_fails(client: TestClient) -> None:
    job = _create(client, [_line("q1", "Hi")])
    assert client.delete(f"/v1/files/{job['input_file_id']}", headers=auth()).status_code == 200
    advance(client, 11)
    failed = _get(client, job["id"])
    assert (failed["status"], failed["progress"]) == ("FAILED", 0.0)
    assert (
        failed["error"] == f"The input file {job['input_file_id']} was deleted before the batch ran"
    )
    assert "output_file_id" not in failed


def test_a_completion_window_other_than_24h_is_ignored_with_a_warning(client: TestClient) -> None:
    file = upload(client, jsonl([_line("q1", "Hi")]), name="b.jsonl", purpose="batch-api")
    body = {"endpoint": CHAT, "input_file_id": file["id"], "completion_window": "48h"}
    created = client.post("/v1/batches", headers=auth(), json=body)
    assert created.status_code == 201
    assert_matches_spec(created.json(), "POST", "/batches", 201)
    assert created.json()["warning"] == (
        "completion_window '48h' was ignored: a batch always has 24h to complete"
    )
    assert created.json()["job"]["job_deadline"] == "2026-01-02T00:00:00.000000Z"


def test_batches_are_listed_newest_first_per_key_and_unknown_ones_are_404(
    client: TestClient,
) -> None:
    first = _create(client, [_line("a", "Hi")])
    advance(client, 1)
    second = _create(client, [_line("b", "Hi")])
    listed = client.get("/v1/batches", headers=auth())
    assert_matches_spec(listed.json(), "GET", "/batches")
    assert [b["id"] for b in listed.json()] == [second["id"], first["id"]]
    assert client.get("/v1/batches", headers=auth("another-key")).json() == []
    missing = client.get("/v1/batches/00000000-0000-4000-8000-000000000000", headers=auth())
    assert _refused(missing, 404, "GET", "/batches/{id}").startswith("Batch 00000000")
    assert _refused(client.get("/v1/batches"), 401, "GET", "/batches").startswith("Missing API key")


def test_an_audio_batch_transcribes_each_url(client: TestClient) -> None:
    rows = [
        {"custom_id": "call-1", "method": "FILE", "body": {"file": "https://example.com/1.wav"}},
        {"custom_id": "call-2", "method": "FILE", "body": {"file": "not-a-url"}},
    ]
    file = upload(client, jsonl(rows), name="calls.jsonl", purpose="batch-api")
    created = client.post(
        "/v1/batches",
        headers=auth(),
        json={"endpoint": "/v1/audio/transcriptions", "input_file_id": file["id"]},
    )
    advance(client, 11)
    batch = _get(client, created.json()["job"]["id"])
    (ok,) = _lines(client, batch["output_file_id"])
    assert ok["response"]["body"]["text"].startswith("Simulated transcript of")
    (bad,) = _lines(client, batch["error_file_id"])
    assert (bad["custom_id"], bad["response"]["body"]["error"]["param"]) == ("call-2", "file")


def test_a_batch_lives_on_across_a_restart(settings: Settings, clock: ManualClock) -> None:
    app = create_app(settings, clock=clock)
    with TestClient(app) as client:
        job = _create(client, [_line("q1", "Hi")])
    app.state.services.store.close()
    again = create_app(settings, clock=clock)
    with TestClient(again) as client:
        assert _get(client, job["id"])["status"] == "VALIDATING"
        advance(client, 11)
        done = _get(client, job["id"])
        assert [line["custom_id"] for line in _lines(client, done["output_file_id"])] == ["q1"]
    again.state.services.store.close()


def test_results_are_written_once(client: TestClient) -> None:
    job = _create(client, [_line("q1", "Hi")])
    advance(client, 11)
    first, second = _get(client, job["id"]), _get(client, job["id"])
    assert first["output_file_id"] == second["output_file_id"]
    files = client.get("/v1/files", headers=auth()).json()["data"]
    assert sum(f["purpose"] == "batch-generated" for f in files) == 1
