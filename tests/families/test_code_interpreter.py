"""The code interpreter over HTTP: it never executes code. Each execution answers a success whose
only output says so and describes what was sent; sessions count executions, expire an hour after
the last one, and an unknown or expired one gets the spec's failed execution."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.spec_calls import Api

PY = {"language": "python"}  # required by the spec, though it is the only language


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def test_code_is_never_run_and_the_answer_says_so(api: Api) -> None:
    body = {"code": "import os\nos.remove('/')", "language": "python"}
    answer = api.call("POST /tci/execute", json=body)
    assert answer["errors"] is None
    [output] = answer["data"]["outputs"]
    assert output["type"] == "stdout"
    assert output["data"].startswith("[together-sim] This code was NOT executed")
    assert "2 line(s) of python" in output["data"]
    again = api.call("POST /tci/execute", json={**body, "session_id": answer["data"]["session_id"]})
    assert again["data"]["outputs"][0]["data"] == output["data"].replace(
        "execution 1", "execution 2"
    )


def test_files_sent_with_the_code_are_named_but_not_read(api: Api) -> None:
    files = [{"name": "data.csv", "encoding": "string", "content": "a,b\n1,2\n"}]
    answer = api.call("POST /tci/execute", json={**PY, "code": "print(1)", "files": files})
    assert (
        "Files placed in the session (not read): data.csv" in answer["data"]["outputs"][0]["data"]
    )


def test_sessions_are_listed_until_they_expire_an_hour_after_their_last_execution(
    api: Api,
) -> None:
    session_id = api.call("POST /tci/execute", json={**PY, "code": "x = 1"})["data"]["session_id"]
    api.advance(1800)
    api.call("POST /tci/execute", json={**PY, "code": "x += 1", "session_id": session_id})
    [session] = api.call("GET /tci/sessions")["data"]["sessions"]
    assert (session["id"], session["execute_count"]) == (session_id, 2)
    assert (session["started_at"], session["expires_at"]) == (
        "2026-01-01T00:00:00.000000Z",
        "2026-01-01T01:30:00.000000Z",
    )
    api.advance(3600)
    assert api.call("GET /tci/sessions") == {"data": {"sessions": []}}
    expired = api.call("POST /tci/execute", json={**PY, "code": "x", "session_id": session_id})
    assert expired == {"data": None, "errors": [f"Session {session_id} not found or expired"]}


def test_another_keys_session_cannot_be_used(api: Api, client: TestClient) -> None:
    session_id = api.call("POST /tci/execute", json={**PY, "code": "1"})["data"]["session_id"]
    other = Api(client, key="other-key")
    refused = other.call("POST /tci/execute", json={**PY, "code": "1", "session_id": session_id})
    assert refused["data"] is None
