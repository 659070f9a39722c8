"""Examples mode's front door (``mock_server.spec.examples_front``): the spec's operations answered
before FastAPI's routing, from kept answers, must be exactly what the catch-all route answers,
and an answer kept for one request must never answer another that differs in what it says.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from mock_server.app import create_app
from mock_server.settings import ServeMode, Settings
from mock_server.spec.examples_front import ExamplesFront
from mock_server.spec.index import SpecOperation
from tests.spec.test_examples_mode import HTTP, KEY, op_id, request_for

pytestmark = pytest.mark.skipif(not HTTP, reason="the pinned spec is not available here")


def _app(*, front: bool) -> TestClient:
    app = create_app(Settings(mode=ServeMode.examples, api_keys=[], spec=None))
    if not front:  # the stack is built on the first request, so this leaves only the route
        app.user_middleware = [m for m in app.user_middleware if m.cls is not ExamplesFront]
    return TestClient(app)


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[TestClient, TestClient]]:
    with _app(front=True) as front, _app(front=False) as route:
        yield front, route


def _wire(response: Response) -> tuple[int, str | None, bytes]:
    return response.status_code, response.headers.get("content-type"), response.content


@pytest.mark.parametrize("op", HTTP, ids=op_id)
def test_the_front_answers_every_operation_as_the_route_does(
    clients: tuple[TestClient, TestClient], op: SpecOperation
) -> None:
    front, route = clients
    request = request_for(op)
    first = front.request(**request, follow_redirects=False)
    kept = front.request(**request, follow_redirects=False)
    assert _wire(first) == _wire(route.request(**request, follow_redirects=False))
    assert _wire(kept) == _wire(first)
    unkeyed = front.request(**{**request, "headers": {}})
    assert unkeyed.status_code == 401  # a kept answer never skips the key check


def test_a_kept_answer_never_answers_a_request_that_says_something_else(
    clients: tuple[TestClient, TestClient],
) -> None:
    front, _ = clients
    body = {"training_file": "file-1", "model": "org/base", "n_epochs": 3}
    for _ in range(2):
        assert front.get("/v1/fine-tunes/ft-a", headers=KEY).json()["id"] == "ft-a"
        assert front.post("/v1/fine-tunes", headers=KEY, json=body).json()["n_epochs"] == 3
    assert front.get("/v1/fine-tunes/ft-b", headers=KEY).json()["id"] == "ft-b"
    assert (
        front.post("/v1/fine-tunes", headers=KEY, json={**body, "n_epochs": 4}).json()["n_epochs"]
        == 4
    )
    broken = front.post("/v1/fine-tunes", headers=KEY, json={**body, "n_epochs": "three"})
    assert (broken.status_code, broken.json()["error"]["param"]) == (400, "n_epochs")


def test_the_same_request_asking_for_a_stream_gets_events_not_the_kept_json(
    clients: tuple[TestClient, TestClient],
) -> None:
    front, _ = clients
    body = {"model": "org/chat", "messages": [{"role": "user", "content": "hi"}]}
    plain = front.post("/v1/chat/completions", headers=KEY, json=body)
    streamed = front.post("/v1/chat/completions", headers=KEY, json={**body, "stream": True})
    assert plain.headers["content-type"] == "application/json"
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.text.rstrip().endswith("data: [DONE]")
