"""SDK 3.1.1, unchanged, through injected faults on a live server: it retries 408/409/429/5xx
and connection errors twice (3 attempts), waits what ``retry-after-ms`` / ``retry-after`` ask
when 0 < value <= 60 s, else backs off 1 s then 2 s (x 0.75-1 jitter); past its budget it raises
``RateLimitError`` / ``InternalServerError`` / ``APIConnectionError`` (clients-wire.md §1).

The journal's ``wall_time`` of two faulted attempts of one call is the delay the client waited,
plus one round trip: shorter than the 0.75 s its own backoff could be, and no shorter than what
the server asked for, it shows the header was obeyed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from together import APIConnectionError, InternalServerError, RateLimitError, Together

pytestmark = pytest.mark.e2e

MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
NO_SUCH_JOB = "ft-00000000-0000-4000-8000-000000000000"  # a fault answers before any lookup
OWN_BACKOFF = 0.75  # the shortest first retry 3.x waits on its own: 1 s x 0.75 jitter


@pytest.fixture
def client(instant_server: Any, api_key: str) -> Iterator[Together]:
    with Together(api_key=api_key, base_url=instant_server.root) as together:
        yield together


def _journal(server: Any, rule: str | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = server.sim("GET", "/journal")["data"]
    return [e for e in entries if rule is None or e["rule"] == rule]


def _gaps(entries: list[dict[str, Any]]) -> list[float]:
    return [b["wall_time"] - a["wall_time"] for a, b in zip(entries, entries[1:], strict=False)]


def test_the_workflow_gets_through_429s_and_503s_waiting_as_retry_after_asks(
    instant_server, client, quickstart_file
):
    instant_server.sim("POST", "/faults", [
        {"id": "upload", "operation": "POST /v1/files", "status": 429, "retry_after": 0.3,
         "times": 2},
        {"id": "create", "operation": "POST /v1/fine-tunes", "status": 503,
         "retry_after_ms": 300, "times": 2},
        {"id": "retrieve", "operation": "GET /v1/fine-tunes/{id}", "status": 429,
         "retry_after": 0.3, "times": 2},
        {"id": "events", "operation": "GET /v1/fine-tunes/{id}/events", "status": 503,
         "retry_after": 0.3, "times": 2},
    ])  # fmt: skip

    uploaded = client.files.upload(quickstart_file, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(training_file=uploaded.id, model=MODEL, lora=True)
    retrieved = client.fine_tuning.retrieve(job.id)
    events = client.fine_tuning.list_events(job.id).data

    assert (uploaded.processing_status, retrieved.status) == ("COMPLETED", "completed")
    assert events[-1].type == "job_complete"
    for rule in ("upload", "create", "retrieve", "events"):
        entries = _journal(instant_server, rule)
        assert [(e["fault"], e["retry_count"]) for e in entries] == [("status", 0), ("status", 1)]
        (gap,) = _gaps(entries)
        assert 0.3 <= gap < OWN_BACKOFF, (rule, gap)
    # the third attempt of each call got the real answer
    calls = [(e.line, e.status) for e in instant_server.exchanges if e.method == "POST"]
    assert calls[:3] == [("POST /v1/files", 429), ("POST /v1/files", 429), ("POST /v1/files", 302)]


@pytest.mark.parametrize(("status", "raised"), [(429, RateLimitError), (503, InternalServerError)])
def test_a_fault_past_the_retry_budget_raises_the_documented_exception(
    instant_server, client, status, raised
):
    instant_server.sim(
        "POST", "/faults", {"id": "down", "path": "/v1/fine-tunes/*", "status": status,
                            "retry_after": 0.1},
    )  # fmt: skip
    with pytest.raises(raised) as caught:
        client.fine_tuning.retrieve(NO_SUCH_JOB)
    assert caught.value.status_code == status
    assert caught.value.body["error"]["message"].endswith("(injected by together-sim fault down)")
    assert [e["retry_count"] for e in _journal(instant_server)] == [0, 1, 2]


def test_a_reset_connection_and_a_truncated_body_are_retried(
    instant_server, client, quickstart_file
):
    uploaded = client.files.upload(quickstart_file, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(training_file=uploaded.id, model=MODEL, lora=True)
    instant_server.sim("POST", "/faults", [
        {"id": "reset", "operation": "GET /v1/fine-tunes/{id}", "reset": True, "times": 1},
        {"id": "cut", "operation": "GET /v1/fine-tunes/{id}/events", "truncate": 0.5,
         "times": 1},
    ])  # fmt: skip

    assert client.fine_tuning.retrieve(job.id).status == "completed"
    assert client.fine_tuning.list_events(job.id).data[-1].type == "job_complete"

    assert [(e["rule"], e["retry_count"]) for e in _journal(instant_server)] == [
        ("reset", 0),
        ("cut", 0),
    ]
    polls = [(e.line, e.status) for e in instant_server.exchanges if e.method == "GET"]
    assert polls[-4:] == [
        (f"GET /v1/fine-tunes/{job.id}", 0),  # no answer at all
        (f"GET /v1/fine-tunes/{job.id}", 200),
        (f"GET /v1/fine-tunes/{job.id}/events", 200),  # its body was cut short
        (f"GET /v1/fine-tunes/{job.id}/events", 200),
    ]


def test_connection_resets_past_the_budget_raise_api_connection_error(instant_server, client):
    instant_server.sim("POST", "/faults", {"path": "/v1/fine-tunes/*", "reset": True})
    with pytest.raises(APIConnectionError):
        client.fine_tuning.retrieve(NO_SUCH_JOB)
    entries = _journal(instant_server)
    assert [e["retry_count"] for e in entries] == [0, 1, 2]
    assert all(gap >= OWN_BACKOFF for gap in _gaps(entries))  # no header: its own backoff


def test_the_sdk_uploads_through_the_rate_limited_upload_scenario(
    instant_server, client, quickstart_file
):
    instant_server.sim("POST", "/scenario", _scenario("rate-limited-upload"))
    uploaded = client.files.upload(quickstart_file, purpose="fine-tune", check=True)
    assert uploaded.processing_status == "COMPLETED"
    assert [(e["rule"], e["detail"]["status"]) for e in _journal(instant_server)] == [
        ("upload-429", 429),
        ("upload-429", 429),
        ("preprocess-503", 503),
    ]
    assert _gaps(_journal(instant_server, "upload-429"))[0] >= 0.5  # the scenario's retry-after


def test_the_sdk_monitors_a_job_through_the_flaky_monitoring_scenario(
    instant_server, client, quickstart_file
):
    uploaded = client.files.upload(quickstart_file, purpose="fine-tune", check=True)
    job = client.fine_tuning.create(training_file=uploaded.id, model=MODEL, lora=True)
    instant_server.sim("POST", "/scenario", _scenario("flaky-monitoring"))
    for _ in range(5):
        assert client.fine_tuning.retrieve(job.id).status == "completed"
        assert client.fine_tuning.list_events(job.id).data[-1].type == "job_complete"
    hit = {e["rule"] for e in _journal(instant_server)}
    assert hit == {"slow-polls", "overloaded", "events-reset"}


def _scenario(name: str) -> Any:
    import yaml

    return yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text())
