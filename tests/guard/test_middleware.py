"""``RequestGuard``: a body past its limit is a 413 (before it is read when its length is declared,
as soon as it goes past when it is chunked), a body that stops arriving is a 408 that closes the
connection, and a request without a body passes as it came. First around a small ASGI app, whose
every step the test sees; then in front of the simulator, where the limits are its settings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from mock_server.app import create_app
from mock_server.core.limits import LIMITS, Limits
from mock_server.guard.middleware import RequestGuard
from mock_server.settings import ClockMode, ServeMode, Settings
from tests.steps import BASE_MODEL, auth


class Reader:
    """An app that reads its whole body, then answers 200 with how much it read; or, where the
    read raises, answers 400 itself (as a route that catches the error would)."""

    def __init__(self) -> None:
        self.calls = 0
        self.scope: Scope | None = None
        self.receive: Receive | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        self.scope, self.receive = scope, receive
        read = 0
        try:
            while True:
                message = await receive()
                read += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except Exception:
            status, body = 400, b"the app's own answer"
        else:
            status, body = 200, str(read).encode()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})


def _scope(path: str = "/v1/fine-tunes", **headers: str) -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def _chunks(*bodies: bytes, then_wait: bool = False) -> Receive:
    """The request's body messages, in order; then a wait that never ends (a client that
    stopped sending), or a disconnect."""
    queue = [
        {"type": "http.request", "body": body, "more_body": i < len(bodies) - 1 or then_wait}
        for i, body in enumerate(bodies)
    ]

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then_wait:
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive


def _run(
    guard: RequestGuard, scope: Scope, receive: Receive
) -> tuple[int, dict[bytes, bytes], Any]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    start, body = sent
    payload = body["body"]
    return start["status"], dict(start["headers"]), payload


def _error(payload: bytes) -> dict[str, Any]:
    body = json.loads(payload)
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def test_a_declared_body_past_the_limit_is_a_413_and_the_app_never_runs() -> None:
    app = Reader()
    guard = RequestGuard(app, Limits(max_body_bytes=100))
    status, headers, payload = _run(
        guard, _scope(content_length="101", content_type="application/json"), _chunks(b"x" * 101)
    )
    assert (status, app.calls) == (413, 0)
    assert b"connection" not in headers  # the server drops the body and keeps the connection
    error = _error(payload)
    assert error["type"] == "invalid_request_error" and error["param"] is None
    assert "101 bytes, over the limit of 100 bytes" in error["message"]


def test_a_client_waiting_on_100_continue_is_refused_and_the_connection_closed() -> None:
    guard = RequestGuard(Reader(), Limits(max_body_bytes=100))
    status, headers, _ = _run(
        guard, _scope(content_length="101", expect="100-continue"), _chunks(b"")
    )
    assert (status, headers[b"connection"]) == (413, b"close")


def test_an_upload_past_the_file_limit_names_the_file() -> None:
    guard = RequestGuard(Reader(), Limits(max_upload_bytes=10, max_body_bytes=1000))
    status, _, payload = _run(guard, _scope("/_uploads/file-1", content_length="11"), _chunks())
    assert status == 413
    assert _error(payload)["param"] == "file"


def test_a_chunked_body_is_refused_once_it_goes_past_and_the_apps_answer_is_dropped() -> None:
    app = Reader()
    guard = RequestGuard(app, Limits(max_body_bytes=100))
    status, _, payload = _run(
        guard, _scope(transfer_encoding="chunked"), _chunks(b"x" * 60, b"x" * 60, b"x" * 60)
    )
    assert (status, app.calls) == (413, 1)  # the app read, then got the error, and its 400 ...
    assert "goes past the limit of 100 bytes" in _error(payload)["message"]  # ... became this


def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    guard = RequestGuard(Reader(), Limits(max_body_bytes=100))
    status, _, payload = _run(
        guard, _scope(transfer_encoding="chunked"), _chunks(b"x" * 50, b"x" * 50)
    )
    assert (status, payload) == (200, b"100")


def test_a_body_that_stops_arriving_is_a_408_that_closes_the_connection() -> None:
    guard = RequestGuard(Reader(), Limits(body_timeout=0.05))
    status, headers, payload = _run(
        guard, _scope(content_length="1000"), _chunks(b"x" * 10, then_wait=True)
    )
    assert (status, headers[b"connection"]) == (408, b"close")
    assert "--body-timeout" in _error(payload)["message"]


def test_a_request_without_a_body_passes_as_it_came_with_the_limits_in_its_scope() -> None:
    app = Reader()
    limits = Limits()
    receive = _chunks(b"")
    status, _, _ = _run(RequestGuard(app, limits), _scope(), receive)
    assert status == 200
    assert app.receive is receive  # not wrapped: nothing to hold
    assert app.scope is not None and app.scope[LIMITS] is limits


# -- in front of the simulator ---------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        clock=ClockMode.manual,
        api_keys=[],
        admin_key=None,
        max_body_bytes=2048,
        max_upload_bytes=64,
        max_form_fields=4,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield client
    app.state.services.store.close()


def test_a_create_past_the_body_limit_is_a_413_and_no_job_is_made(small: TestClient) -> None:
    body = {"model": BASE_MODEL, "training_file": "file-x", "suffix": "s" * 4000}
    refused = small.post("/v1/fine-tunes", headers=auth(), json=body)
    assert refused.status_code == 413, refused.text
    assert "over the limit of 2048 bytes" in refused.json()["error"]["message"]
    assert small.get("/v1/fine-tunes", headers=auth()).json()["data"] == []


def test_an_upload_past_the_file_limit_is_a_413_and_no_file_is_stored(small: TestClient) -> None:
    announced = small.post(
        "/v1/files",
        headers=auth(),
        data={"purpose": "fine-tune", "file_name": "a.jsonl"},
        follow_redirects=False,
    )
    refused = small.put(announced.headers["location"], content=b'{"text": "x"}\n' * 10)
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"]["param"] == "file"
    one_shot = small.post(
        "/v1/files/upload",
        headers=auth(),
        data={"purpose": "fine-tune", "file_name": "b.jsonl"},
        files={"file": ("b.jsonl", b'{"text": "x"}\n' * 100_000)},
    )
    assert one_shot.status_code == 413, one_shot.text
    assert small.get("/v1/files", headers=auth()).json()["data"] == []


def test_a_form_with_more_fields_than_the_limit_is_a_400_naming_it(small: TestClient) -> None:
    fields = {f"extra_{i}": "x" for i in range(5)}
    refused = small.post(
        "/v1/files/upload",
        headers=auth(),
        data={"purpose": "fine-tune", "file_name": "b.jsonl", **fields},
        files={"file": ("b.jsonl", b'{"text": "x"}\n')},
    )
    assert refused.status_code == 400, refused.text
    assert "Maximum number of fields is 4" in refused.json()["error"]["message"]


def test_examples_mode_is_guarded_too(tmp_path: Path) -> None:
    settings = Settings(
        mode=ServeMode.examples, data_dir=tmp_path, api_keys=[], admin_key=None, max_body_bytes=10
    )
    with TestClient(create_app(settings)) as client:
        refused = client.post("/v1/chat/completions", headers=auth(), json={"model": "m" * 20})
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"]["type"] == "invalid_request_error"
