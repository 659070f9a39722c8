"""Examples mode (``together-sim serve --mode examples``): every operation of the spec answered
from its examples and schemas, statelessly, for any id, as an SDK generator's mock server does.

Each operation gets a request built from its own schemas (so it is valid by construction), and
the answer must carry the documented success status, a documented content type and a body valid
against the spec's schema for that status. Without a key every operation answers 401; a request
that breaks the schema answers 400 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.settings import ServeMode, Settings
from mock_server.spec.index import SpecOperation, operation_index
from mock_server.spec.media import SSE, is_json
from mock_server.spec.schemas import Schema
from mock_server.spec.synth import synthesize
from mock_server.spec.validate import first_error
from openapi.locate import SpecNotFound

KEY = {"Authorization": "Bearer sk-examples"}


def _operations() -> list[SpecOperation]:
    try:
        return list(operation_index().operations)
    except SpecNotFound:
        return []


OPERATIONS = _operations()
WEBSOCKETS = [op for op in OPERATIONS if op.success.status == "101"]
HTTP = [op for op in OPERATIONS if op.success.status != "101"]
pytestmark = pytest.mark.skipif(not OPERATIONS, reason="the pinned spec is not available here")


def op_id(op: SpecOperation) -> str:
    return f"{op.method} {op.path}"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """One app for the module: examples mode keeps no state for a test to leak."""
    app = create_app(Settings(mode=ServeMode.examples, api_keys=[], spec=None))
    with TestClient(app) as client:
        yield client


def request_for(op: SpecOperation) -> dict[str, Any]:
    """A request valid for ``op``, built from its own schemas: path ids, required query values,
    and a body (JSON, or multipart with files where the schema says binary)."""
    path = op.route
    query = {}
    for parameter in op.parameters:
        if parameter.location == "path":
            path = path.replace("{" + parameter.name + "}", f"{parameter.name}-42")
        elif parameter.location == "query" and parameter.required:
            query[parameter.name] = str(synthesize(parameter.schema))
    request: dict[str, Any] = {"method": op.method, "url": path, "params": query, "headers": KEY}
    if op.body is not None:
        ctype, schema = next(iter(op.body.content.items()))
        body = synthesize(schema)
        if ctype == "multipart/form-data":
            request["files"] = _multipart(body, schema)
        else:
            request["json"] = body
    return request


def _multipart(body: dict[str, Any], schema: Schema) -> list[tuple[str, Any]]:
    parts: list[tuple[str, Any]] = []
    for name, value in body.items():
        if value == "" and "binary" in json.dumps(schema["properties"][name]):
            parts.append((name, ("audio.wav", b"RIFF....WAVE", "audio/wav")))
        elif isinstance(value, list):
            parts.extend((f"{name}[]", (None, str(item))) for item in value)
        else:
            text = json.dumps(value) if not isinstance(value, str) else value
            parts.append((name, (None, text)))
    return parts


def assert_valid(value: Any, schema: Schema | None) -> None:
    if schema is None:
        return
    error = first_error(value, schema)
    assert error is None, f"{error.message} at {list(error.absolute_path)}" if error else ""


def documented_schema(op: SpecOperation, status: int, ctype: str) -> Schema | None:
    reply = op.reply_for(status)
    assert reply is not None, f"status {status} is not documented for {op_id(op)}"
    if not reply.content:
        return None
    assert ctype in reply.content, f"{ctype} is not documented for {status} of {op_id(op)}"
    return reply.content[ctype]


def parse_sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in filter(None, text.split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        data = fields["data"]
        events.append({**fields, "data": data if data.startswith("[") else json.loads(data)})
    return events


@pytest.mark.parametrize("op", HTTP, ids=op_id)
def test_every_operation_answers_its_documented_success_with_a_valid_body(
    client: TestClient, op: SpecOperation
) -> None:
    response = client.request(**request_for(op), follow_redirects=False)
    assert response.status_code == int(op.success.status), response.text
    ctype = response.headers.get("content-type", "").split(";")[0]
    if not op.success.content:
        assert response.content == b""
        return
    schema = documented_schema(op, response.status_code, ctype)
    if is_json(ctype):
        assert_valid(response.json(), schema)
    elif ctype == SSE:
        events = parse_sse(response.text)
        assert events[-1]["data"] == "[DONE]"
        for event in events:
            assert_valid(event, schema)
    else:
        assert response.content


@pytest.mark.parametrize("op", WEBSOCKETS, ids=op_id)
def test_a_websocket_operation_says_it_needs_an_upgrade(
    client: TestClient, op: SpecOperation
) -> None:
    response = client.request(**request_for(op))
    assert response.status_code == 400
    assert "is a WebSocket endpoint" in response.json()["error"]["message"]


@pytest.mark.parametrize("op", OPERATIONS, ids=op_id)
def test_every_secured_operation_answers_401_without_a_key(
    client: TestClient, op: SpecOperation
) -> None:
    request = {**request_for(op), "headers": {}}
    response = client.request(**request)
    assert response.status_code == 401
    assert_valid(response.json(), documented_schema(op, 401, "application/json"))


def test_ids_and_names_in_the_request_come_back(client: TestClient) -> None:
    job = client.get("/v1/fine-tunes/ft-0c4f", headers=KEY).json()
    endpoint = client.get("/v1/endpoints/endpoint-7", headers=KEY).json()
    created = client.post(
        "/v1/fine-tunes",
        headers=KEY,
        json={"training_file": "file-1", "model": "org/base", "n_epochs": 3},
    ).json()
    assert job["id"] == "ft-0c4f"
    assert endpoint["id"] == "endpoint-7"
    assert (created["training_file"], created["model"], created["n_epochs"]) == (
        "file-1",
        "org/base",
        3,
    )


def test_a_streamed_chat_completion_is_server_sent_chunks_then_done(client: TestClient) -> None:
    response = client.post(
        "/v1/chat/completions",
        headers=KEY,
        json={"model": "org/chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    chunk, done = parse_sse(response.text)
    assert (chunk["data"]["object"], chunk["data"]["model"], done["data"]) == (
        "chat.completion.chunk",
        "org/chat",
        "[DONE]",
    )


@pytest.mark.parametrize(
    ("body", "accept", "ctype", "magic"),
    [
        ({"response_format": "mp3"}, "application/octet-stream", "audio/mpeg", b"\xff\xfb"),
        ({"response_format": "wav"}, "application/octet-stream", "audio/wav", b"RIFF"),
        ({}, "application/octet-stream", "application/octet-stream", b"\x00\x00"),
    ],
)
def test_speech_comes_back_in_the_asked_format(
    client: TestClient, body: dict[str, Any], accept: str, ctype: str, magic: bytes
) -> None:
    response = client.post(
        "/v1/audio/speech",
        headers={**KEY, "Accept": accept},
        json={"model": "cartesia/sonic", "input": "hello", "voice": "calm", **body},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == ctype
    assert response.content.startswith(magic)


def test_a_redirect_points_at_bytes_on_this_server(client: TestClient) -> None:
    response = client.get(
        "/v1/deployments/storage/weights.bin", headers=KEY, follow_redirects=False
    )
    assert response.status_code == 307
    assert response.json() == response.headers["location"]
    assert client.get(response.headers["location"]).content


@pytest.mark.parametrize(
    ("request_", "param", "message"),
    [
        (
            {"method": "POST", "url": "/v1/fine-tunes", "json": {"training_file": "file-1"}},
            "model",
            "model is required",
        ),
        (
            {
                "method": "POST",
                "url": "/v1/fine-tunes",
                "json": {
                    "training_file": "f",
                    "model": "m",
                    "training_type": {"type": "Lora", "lora_r": "8"},
                },
            },
            "training_type.lora_r",
            "training_type.lora_r: must be of type integer",
        ),
        (
            {
                "method": "POST",
                "url": "/v1/chat/completions",
                "json": {
                    "model": "m",
                    "messages": [{"role": "user", "content": "hi"}],
                    "max_tokens": "ten",
                },
            },
            "max_tokens",
            "max_tokens: must be of type integer",
        ),
        (
            {"method": "GET", "url": "/v1/fine-tunes/models/limits"},
            "model_name",
            "Missing required query parameter model_name",
        ),
        (
            {"method": "GET", "url": "/v1/endpoints", "params": {"type": "bogus"}},
            "type",
            'type: must be one of "dedicated", "serverless"',
        ),
        (
            {"method": "GET", "url": "/v1/rl/training-sessions", "params": {"limit": "many"}},
            "limit",
            "limit: must be of type integer",
        ),
        (
            {
                "method": "POST",
                "url": "/v1/files/upload",
                "files": [("purpose", (None, "fine-tune")), ("file_name", (None, "a.jsonl"))],
            },
            "file",
            "file is required",
        ),
    ],
)
def test_a_request_that_breaks_the_schema_is_a_400_naming_the_field(
    client: TestClient, request_: dict[str, Any], param: str, message: str
) -> None:
    response = client.request(**request_, headers=KEY)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }


def test_malformed_json_is_a_400_without_a_param(client: TestClient) -> None:
    response = client.post(
        "/v1/fine-tunes", headers={**KEY, "Content-Type": "application/json"}, content=b"{"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The request body is not valid JSON"
    assert response.json()["error"]["param"] is None


def test_an_error_takes_the_shape_the_operation_documents(client: TestClient) -> None:
    batches = client.post("/v1/batches", headers=KEY, json={"input_file_id": "file-1"})
    queue = client.post("/v1/queue/submit", headers=KEY, json={})
    assert (batches.status_code, batches.json()) == (400, {"error": "endpoint is required"})
    assert (queue.status_code, queue.json()) == (
        400,
        {"message": "model is required", "type": "invalid_request_error", "param": "model"},
    )


def test_unknown_paths_and_methods_answer_in_together_shape(client: TestClient) -> None:
    missing = client.get("/v1/no-such-thing", headers=KEY)
    wrong = client.put("/v1/fine-tunes", headers=KEY)
    assert (missing.status_code, missing.json()["error"]["message"]) == (
        404,
        "No route for GET /v1/no-such-thing",
    )
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, POST")


def test_there_are_no_controls_and_the_spec_served_carries_the_overlay(client: TestClient) -> None:
    assert client.post("/_sim/reset").status_code == 404
    spec = client.get("/openapi.json").json()
    assert "user_error" in spec["components"]["schemas"]["FinetuneJobStatus"]["enum"]
    assert spec["servers"] == [{"url": "http://testserver/v1"}]


def test_configured_keys_are_enforced(client: TestClient) -> None:
    keyed = TestClient(
        create_app(Settings(mode=ServeMode.examples, api_keys=["sk-right"], spec=None))
    )
    assert keyed.get("/v1/models", headers={"Authorization": "Bearer sk-wrong"}).status_code == 401
    assert keyed.get("/v1/models", headers={"Authorization": "Bearer sk-right"}).status_code == 200


def test_the_mode_can_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOGETHER_SIM_MODE", "examples")
    app = create_app(Settings(api_keys=[]))
    with TestClient(app) as env_client:
        batch = "6f1c3a52-0b7e-4d7e-9a55-2d4c8f0e7b11"  # BatchJob ids are uuids
        assert env_client.get(f"/v1/batches/{batch}", headers=KEY).json()["id"] == batch
    assert list(tmp_path.iterdir()) == []  # no data dir: nothing is kept
