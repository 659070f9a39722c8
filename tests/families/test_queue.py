"""The queue over HTTP on the manual clock at the service's pace (one worker per model, 10 s a
job): submit, status through pending → running → done, priority order, cancel (and the spec's
409 when it is too late), metrics, and the queue's own error shape."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.spec_calls import Api

MODEL = "my-deployment"


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def _submit(api: Api, priority: int = 0, model: str = MODEL) -> str:
    body = {"model": model, "payload": {"prompt": "a cat"}, "priority": priority}
    request_id: str = api.call("POST /queue/submit", json=body)["requestId"]
    return request_id


def _status(api: Api, request_id: str, model: str = MODEL) -> dict[str, Any]:
    body: dict[str, Any] = api.call(
        "GET /queue/status", query={"request_id": request_id, "model": model}
    )
    return body


def test_a_job_goes_pending_running_done_with_its_times_and_a_labelled_output(api: Api) -> None:
    first, second = _submit(api), _submit(api)
    assert _status(api, first)["status"] == "running"
    waiting = _status(api, second)
    assert (waiting["status"], waiting["inputs"], waiting["priority"]) == (
        "pending",
        {"prompt": "a cat"},
        0,
    )
    api.advance(10)
    assert _status(api, second)["status"] == "running"
    api.advance(10)
    done = _status(api, second)
    assert (done["claimed_at"], done["done_at"]) == (
        "2026-01-01T00:00:10.000000Z",
        "2026-01-01T00:00:20.000000Z",
    )
    assert done["outputs"]["simulated"] is True


def test_a_higher_priority_job_is_taken_before_earlier_ones(api: Api) -> None:
    running, low = _submit(api), _submit(api)
    api.advance(1)
    urgent = _submit(api, priority=10)
    api.advance(9)
    assert [_status(api, r)["status"] for r in (running, low, urgent)] == [
        "done",
        "pending",
        "running",
    ]


def test_only_a_pending_job_can_be_cancelled(api: Api) -> None:
    running, waiting = _submit(api), _submit(api)
    cancel = {"model": MODEL, "request_id": waiting}
    assert api.call("POST /queue/cancel", json=cancel) == {"status": "canceled"}
    assert _status(api, waiting)["status"] == "canceled"
    too_late = {"model": MODEL, "request_id": running}
    assert api.call("POST /queue/cancel", json=too_late, status=409) == {"status": "running"}


def test_metrics_count_the_waiting_and_running_jobs_of_a_model(api: Api) -> None:
    for _ in range(3):
        _submit(api)
    _submit(api, model="other")
    metrics = api.call("GET /queue/metrics", query={"model": MODEL})
    assert metrics == {"messages_running": 1, "messages_waiting": 2, "total_jobs": 3}
    api.advance(30)
    done = api.call("GET /queue/metrics", query={"model": MODEL})
    assert done == {"messages_running": 0, "messages_waiting": 0, "total_jobs": 0}


def test_an_unknown_request_is_a_404_in_the_queues_own_error_shape(api: Api) -> None:
    request_id = _submit(api)
    wrong_model = api.call(
        "GET /queue/status", query={"request_id": request_id, "model": "other"}, status=404
    )
    assert wrong_model["param"] == "request_id"
    assert "error" not in wrong_model  # QueueError is flat
    missing = api.call(
        "POST /queue/cancel", json={"model": MODEL, "request_id": "req-nope"}, status=404
    )
    assert missing["code"] == "not_found"


def test_clearing_cancels_the_models_waiting_jobs_and_leaves_the_running_one(api: Api) -> None:
    running, first, second = _submit(api), _submit(api), _submit(api)
    elsewhere = _submit(api, model="other")
    assert api.call("POST /queue/clear", json={"model": MODEL}) == {"canceled_count": 2}
    assert [_status(api, r)["status"] for r in (running, first, second)] == [
        "running",
        "canceled",
        "canceled",
    ]
    assert _status(api, elsewhere, model="other")["status"] == "running"
    assert api.call("POST /queue/clear", json={"model": MODEL}) == {"canceled_count": 0}
    api.advance(10)
    assert _status(api, running)["status"] == "done"
    assert api.call("POST /queue/clear", json={}, status=400)["param"] == "model"
