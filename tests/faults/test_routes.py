"""``/_sim/faults`` and ``/_sim/journal`` over the in-process app: rules answer in Together's
shape, count down, stay off the controls, apply before kept job views, and every fault they
inject is journalled. In-process, a reset or a truncated body reaches the client as the httpx
error a real socket gives."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.settings import Settings
from tests.steps import QUICKSTART, advance, auth, create_job, jsonl, upload


def _add(client: TestClient, rule: object) -> list[dict[str, Any]]:
    added = client.post("/_sim/faults", json=rule)
    assert added.status_code == 200, added.text
    rules: list[dict[str, Any]] = added.json()["data"]
    return rules


def _journal(client: TestClient, **query: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = client.get("/_sim/journal", params=query).json()["data"]
    return entries


def test_the_next_two_uploads_are_rate_limited_then_go_through(
    client: TestClient, tenant_of: Callable[[str], str]
) -> None:
    (rule,) = _add(
        client, {"id": "upload-429", "operation": "POST /v1/files", "status": 429,
                 "retry_after": 2, "times": 2},
    )  # fmt: skip
    assert (rule["seen"], rule["fired"], rule["remaining"]) == (0, 0, 2)
    form = {"purpose": (None, "fine-tune"), "file_name": (None, "train.jsonl")}
    answers = [
        client.post("/v1/files", headers=auth(), files=form, follow_redirects=False)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [429, 429, 302]
    refused = answers[0]
    assert refused.json() == {
        "error": {
            "message": "Rate limit exceeded (injected by together-sim fault upload-429)",
            "type": "rate_limit_exceeded",
            "param": None,
            "code": None,
        }
    }
    assert {k: refused.headers[k] for k in ("retry-after", "x-ratelimit-remaining")} == {
        "retry-after": "2",
        "x-ratelimit-remaining": "0",
    }
    assert [(e["rule"], e["fault"], e["method"], e["path"], e["tenant"], e["detail"])
            for e in _journal(client)] == [
        ("upload-429", "status", "POST", "/v1/files", tenant_of("test-key"),
         {"status": 429, "retry_after": 2}),
    ] * 2  # fmt: skip
    listed = client.get("/_sim/faults").json()["data"]
    assert [(r["id"], r["seen"], r["fired"], r["remaining"]) for r in listed] == [
        ("upload-429", 2, 2, 0)  # spent: it no longer counts calls
    ]


def test_a_fault_applies_before_a_kept_job_view_could_answer(client: TestClient) -> None:
    job_id = create_job(client, upload(client, jsonl(QUICKSTART))["id"])["id"]
    for _ in range(2):  # the second poll is answered from the kept body
        assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).status_code == 200
    _add(client, {"operation": "GET /v1/fine-tunes/{id}", "status": 503, "times": 1})
    polled = client.get(f"/v1/fine-tunes/{job_id}", headers=auth())
    assert (polled.status_code, polled.json()["error"]["type"]) == (503, "server_error")
    assert client.get(f"/v1/fine-tunes/{job_id}", headers=auth()).status_code == 200
    assert [e["path"] for e in _journal(client)] == [f"/v1/fine-tunes/{job_id}"]


def test_a_rule_for_everything_leaves_the_controls_alone(client: TestClient) -> None:
    _add(client, {"status": 500})
    assert client.get("/v1/files", headers=auth()).status_code == 500
    assert client.get("/_sim/clock").status_code == 200
    assert client.delete("/_sim/faults").json()["data"] == []
    assert client.get("/v1/files", headers=auth()).status_code == 200


def test_a_rule_for_one_api_key_leaves_other_tenants_alone(client: TestClient) -> None:
    _add(client, {"api_key": "team-a", "path": "/v1/files", "status": 503})
    assert client.get("/v1/files", headers=auth("team-a")).status_code == 503
    assert client.get("/v1/files", headers=auth("team-b")).status_code == 200


def test_several_rules_are_added_at_once_and_removed_one_by_one(client: TestClient) -> None:
    rules = _add(
        client,
        {"faults": [{"id": "a", "path": "/v1/files", "latency": 0.01},
                    {"path": "/v1/models", "status": 502}]},
    )  # fmt: skip
    assert [r["id"] for r in rules] == ["a", "f1"]
    assert client.delete("/_sim/faults/a").json() == {"id": "a", "deleted": True}
    missing = client.delete("/_sim/faults/a")
    assert (missing.status_code, missing.json()["error"]["message"]) == (
        404,
        "No fault rule 'a'",
    )
    assert [r["id"] for r in client.get("/_sim/faults").json()["data"]] == ["f1"]


def test_a_rule_that_cannot_mean_anything_is_refused_naming_the_field(client: TestClient) -> None:
    refused = client.post("/_sim/faults", json=[{"status": 503}, {"status": 418}])
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "1.status"
    assert client.get("/_sim/faults").json()["data"] == []  # nothing of the batch was added


def test_latency_holds_the_answer_and_is_journalled(client: TestClient) -> None:
    _add(client, {"id": "slow", "path": "/v1/files", "latency": 0.2})
    started = time.monotonic()
    assert client.get("/v1/files", headers=auth()).status_code == 200
    assert time.monotonic() - started >= 0.2
    assert [(e["fault"], e["detail"]) for e in _journal(client, rule="slow")] == [
        ("latency", {"latency": 0.2})
    ]


def test_in_process_a_reset_raises_the_read_error_a_socket_would(client: TestClient) -> None:
    _add(client, {"id": "cut", "path": "/v1/files", "reset": True, "times": 1})
    with pytest.raises(httpx.ReadError, match="Connection reset by peer"):
        client.get("/v1/files", headers=auth())
    assert client.get("/v1/files", headers=auth()).status_code == 200
    assert [e["fault"] for e in _journal(client)] == ["reset"]


def test_a_truncated_create_still_creates_the_job_the_client_never_hears_of(
    client: TestClient,
) -> None:
    train = upload(client, jsonl(QUICKSTART))["id"]
    _add(client, {"operation": "POST /v1/fine-tunes", "truncate": 0.5, "times": 1})
    body = {"training_file": train, "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"}
    with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
        client.post("/v1/fine-tunes", headers=auth(), json=body)
    listed = client.get("/v1/fine-tunes", headers=auth()).json()["data"]
    assert len(listed) == 1  # a client that retries now makes a second job


def test_a_slow_stream_delivers_the_same_events_spaced_out(client: TestClient) -> None:
    body = {"model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "stream": True,
            "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    plain = client.post("/v1/chat/completions", headers=auth(), json=body).text
    events = plain.count("\n\n")
    _add(client, {"path": "/v1/chat/completions", "slow_stream": {"interval": 0.05}})
    started = time.monotonic()
    slowed = client.post("/v1/chat/completions", headers=auth(), json=body).text
    assert slowed == plain
    assert events >= 3
    assert time.monotonic() - started >= 0.05 * (events - 1)


def test_reset_returns_to_the_startup_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad-day.json"
    scenario.write_text(json.dumps({"faults": [{"id": "base", "path": "/v1/files",
                                                 "status": 503, "times": 1}]}))  # fmt: skip
    settings = Settings(
        data_dir=tmp_path / "data", clock="manual", api_keys=[], admin_key=None, faults=scenario
    )
    app = create_app(settings, clock=ManualClock())
    with TestClient(app) as client:
        assert client.get("/v1/files", headers=auth()).status_code == 503
        _add(client, {"id": "extra", "path": "/v1/models", "status": 500})
        assert client.post("/_sim/reset").status_code == 200
        assert [(r["id"], r["fired"]) for r in client.get("/_sim/faults").json()["data"]] == [
            ("base", 0)
        ]
        assert _journal(client) == []
        assert client.get("/v1/files", headers=auth()).status_code == 503
    app.state.services.store.close()


def test_the_faults_file_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_SIM_FAULTS", str(tmp_path / "day.yaml"))
    assert Settings(data_dir=tmp_path).faults == tmp_path / "day.yaml"


def test_the_journal_is_filtered_by_rule_and_cleared(client: TestClient) -> None:
    _add(client, [{"id": "a", "path": "/v1/files", "status": 503, "times": 2},
                  {"id": "b", "path": "/v1/models", "status": 504}])  # fmt: skip
    for path in ("/v1/files", "/v1/models", "/v1/files"):
        client.get(path, headers=auth())
    assert [e["rule"] for e in _journal(client)] == ["a", "b", "a"]
    assert [e["seq"] for e in _journal(client, rule="a", limit="1")] == [3]
    advance(client, 60)
    client.get("/v1/models", headers=auth())
    assert _journal(client)[-1]["at"] == "2026-01-01T00:01:00.000000Z"
    assert client.delete("/_sim/journal").json()["data"] == []
    assert _journal(client) == []


def test_a_nested_quantifier_cannot_stall_the_requests_it_is_matched_against(
    client: TestClient,
) -> None:
    """With Python's ``re``, ``/v1/(a+)+`` against a long path of a's that does not match takes
    time exponential in its length, on every request: the server stalls. RE2 answers at once."""
    _add(client, {"id": "redos", "path_regex": "/v1/(a+)+", "status": 503})
    missed = client.get("/v1/" + "a" * 5000 + "!", headers=auth())
    assert missed.status_code == 404  # matched against the rule, which did not fire
    assert client.get("/v1/aaaa", headers=auth()).status_code == 503
    assert [r["seen"] for r in client.get("/_sim/faults").json()["data"]] == [1]


@pytest.mark.parametrize(
    ("rule", "param"),
    [
        ({"path_regex": "/v1/(?!files)", "status": 503}, "path_regex"),  # a lookahead
        ([{"path": "/v1/files", "status": 503}, {"path_regex": r"(a)\1", "status": 503}],
         "1.path_regex"),
        ({"path_regex": "/v1/" + "x" * 1000, "status": 503}, "path_regex"),
        ({"path": "/v1/files", "status": 503, "after": 1e300}, "after"),
        ({"path": "/v1/files", "status": 429, "retry_after": float("inf")}, "retry_after"),
    ],
)  # fmt: skip
def test_a_rule_the_server_could_not_live_with_is_a_400_naming_the_field(
    client: TestClient, rule: object, param: str
) -> None:
    refused = client.post("/_sim/faults", content=json.dumps(rule))  # Infinity, as JSON allows
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert client.get("/_sim/faults").json()["data"] == []
    assert client.get("/v1/models", headers=auth()).status_code == 200


def test_a_scenario_with_a_pattern_re2_refuses_names_the_rule_and_field(
    client: TestClient,
) -> None:
    scenario = {"faults": [{"path_regex": "/v1/(?<=x)y", "status": 503}]}
    refused = client.post("/_sim/scenario", json=scenario)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == "faults.0.path_regex"
    assert "RE2" in error["message"]


def test_a_startup_scenario_rule_for_a_key_touches_the_tenant_that_key_is(
    tmp_path: Path,
) -> None:
    """The scenario is read before any request, and its key bound under the data dir's secret:
    the rule's tenant is the one the routes give that key, before and after a reset."""
    scenario = tmp_path / "bad-day.json"
    rule = {"id": "mine", "path": "/v1/files", "status": 503, "api_key": "test-key"}
    scenario.write_text(json.dumps({"faults": [rule]}))
    settings = Settings(
        data_dir=tmp_path / "data", clock="manual", api_keys=[], admin_key=None, faults=scenario
    )
    app = create_app(settings, clock=ManualClock())
    with TestClient(app) as client:
        for _ in range(2):
            assert client.get("/v1/files", headers=auth()).status_code == 503
            assert client.get("/v1/files", headers=auth("someone-else")).status_code == 200
            (rule,) = client.get("/_sim/faults").json()["data"]
            assert rule["tenant"] == app.state.tenancy.tenant_of("test-key")
            assert "test-key" not in json.dumps(rule)
            assert client.post("/_sim/reset").status_code == 200
    app.state.services.store.close()
