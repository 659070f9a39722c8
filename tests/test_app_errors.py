"""Every failure, whatever raised it, answers ``{"error": {message, type, param, code}}`` with a
string-or-null ``param`` and ``code``: the 1.5.x SDK asserts that shape and breaks on
``{"detail": ...}``."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_server.app import create_app
from mock_server.core.clock import ManualClock
from mock_server.core.errors import ServiceUnavailable
from mock_server.settings import ClockMode, Settings
from tests.steps import BASE_MODEL, auth

JSON = {"Content-Type": "application/json"}


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    return error


@pytest.fixture
def keyed_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "keyed", clock=ClockMode.manual, api_keys=["sk-right"])
    app = create_app(settings, clock=ManualClock())
    with TestClient(app) as client:
        yield client
    app.state.services.store.close()


def test_an_unknown_route_is_a_404_in_together_shape(client: TestClient) -> None:
    error = _error(client.get("/v1/nope", headers=auth()), 404)
    assert error == {
        "message": "No route for GET /v1/nope",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_a_wrong_method_is_a_405_in_together_shape(client: TestClient) -> None:
    response = client.put("/v1/fine-tunes", headers=auth())
    error = _error(response, 405)
    assert error["message"] == "Method PUT is not allowed on /v1/fine-tunes"
    assert response.headers["allow"] == "GET, POST"  # the spec's methods for the path


def test_malformed_json_is_a_400_without_a_param(client: TestClient) -> None:
    response = client.post("/v1/fine-tunes", headers={**auth(), **JSON}, content="{bad")
    assert _error(response, 400) == {
        "message": "The request body is not valid JSON",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_a_field_of_the_wrong_type_is_a_400_naming_it(client: TestClient) -> None:
    body = {"training_file": "file-x", "model": BASE_MODEL, "n_epochs": "three"}
    error = _error(client.post("/v1/fine-tunes", headers=auth(), json=body), 400)
    assert error["param"] == "n_epochs"
    assert error["message"] == "n_epochs: must be of type integer"  # the spec's check


def test_a_nested_field_is_named_with_dots(client: TestClient) -> None:
    body = {"model": BASE_MODEL, "messages": ["hi"]}
    error = _error(client.post("/v1/chat/completions", headers=auth(), json=body), 400)
    # The spec's message schema is a oneOf over roles: the error names the element, not a branch.
    assert (error["message"], error["param"]) == (
        "messages.0: 'hi' is not valid under any of the given schemas",
        "messages.0",
    )


def test_a_missing_query_parameter_is_a_400_naming_it(client: TestClient) -> None:
    error = _error(client.get("/v1/fine-tunes/models/limits", headers=auth()), 400)
    assert (error["message"], error["param"]) == (
        "Missing required query parameter model_name",
        "model_name",
    )


def test_a_missing_key_is_a_401_invalid_api_key(client: TestClient) -> None:
    error = _error(client.get("/v1/files"), 401)
    assert (error["type"], error["code"]) == ("invalid_api_key", "invalid_api_key")


def test_a_key_without_the_bearer_scheme_is_a_401(client: TestClient) -> None:
    error = _error(client.get("/v1/files", headers={"Authorization": "Basic abc"}), 401)
    assert error["code"] == "invalid_api_key"


def test_any_key_works_when_none_are_configured(client: TestClient) -> None:
    assert client.get("/v1/files", headers=auth("whatever")).status_code == 200


def test_a_wrong_key_is_a_401_when_keys_are_configured(keyed_client: TestClient) -> None:
    error = _error(keyed_client.get("/v1/files", headers=auth("sk-wrong")), 401)
    assert error == {
        "message": "Invalid API key provided. You can find your API key at "
        "https://api.together.xyz/settings/api-keys.",
        "type": "invalid_api_key",
        "param": None,
        "code": "invalid_api_key",
    }
    assert keyed_client.get("/v1/files", headers=auth("sk-right")).status_code == 200


def test_a_not_found_record_is_a_404_with_code_not_found(client: TestClient) -> None:
    error = _error(client.get("/v1/fine-tunes/ft-nope", headers=auth()), 404)
    assert error == {
        "message": "Fine-tune job ft-nope not found",
        "type": "invalid_request_error",
        "param": "id",
        "code": "not_found",
    }


def test_an_unexpected_exception_is_a_500_in_together_shape(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(tenant: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.state.services.files, "files", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        error = _error(client.get("/v1/files", headers=auth()), 500)
    assert error == {
        "message": "Internal error in together-sim: RuntimeError: disk on fire",
        "type": "server_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/v1/nope", {}, 404),
        ("DELETE", "/v1/fine-tunes", {}, 405),
        ("POST", "/v1/fine-tunes", {"content": "{", "headers": JSON}, 400),
        ("POST", "/v1/fine-tunes", {"json": {}}, 400),
        ("POST", "/v1/files/file-nope/preprocess", {}, 404),
        ("GET", "/v1/files/file-nope/content", {}, 404),
        ("POST", "/v1/chat/completions", {"json": {"model": "x", "messages": "hi"}}, 400),
        ("POST", "/v1/files/multipart/complete", {"json": {"upload_id": "u"}}, 400),
        ("GET", "/v1/finetune/download", {}, 400),
        ("POST", "/_sim/advance", {"json": {}}, 400),
    ],
)
def test_no_error_body_is_ever_detail(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    headers = {**auth(), **kwargs.pop("headers", {})}
    response = client.request(method, path, headers=headers, **kwargs)
    _error(response, status)
    assert "detail" not in response.text


@pytest.mark.parametrize(
    "full",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        sqlite3.OperationalError("database or disk is full"),
    ],
)
def test_a_full_disk_anywhere_is_a_507_and_the_next_request_is_answered(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, full: Exception
) -> None:
    if isinstance(full, sqlite3.Error):
        full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]

    def fill(tenant: str) -> None:
        raise full

    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(app.state.services.files, "files", fill)
        error = _error(client.get("/v1/files", headers=auth()), 507)
        monkeypatch.undo()
        again = client.get("/v1/files", headers=auth())
    assert error["type"] == "server_error"
    assert error["message"].startswith("No space left on device")
    assert again.status_code == 200


@pytest.mark.parametrize("where", ["the store", "anywhere else"])
def test_a_database_locked_elsewhere_is_a_503_with_retry_after(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Whether the store's own wait ran out (its ServiceUnavailable) or SQLite said "database is
    locked" somewhere the store did not wrap: a 503 both SDKs retry, never a 500."""
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    refusal = ServiceUnavailable("locked by another process") if where == "the store" else locked

    def refuse(tenant: str) -> None:
        raise refusal

    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(app.state.services.files, "files", refuse)
        response = client.get("/v1/files", headers=auth())
        monkeypatch.undo()
        again = client.get("/v1/files", headers=auth())
    error = _error(response, 503)
    assert error["type"] == "server_error" and "locked" in error["message"]
    assert response.headers["retry-after"] == "1"
    assert again.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/fine-tunes",
        "/v1/batches",
        "/v1/deployments/secrets",
        "/v1/chat/completions",
        "/_sim/faults",
        "/_sim/scenario",
    ],
)
@pytest.mark.parametrize(
    "body", ["[" * 10_000 + "]" * 10_000, '{"a": ' * 100 + "1" + "}" * 100], ids=["10000", "100"]
)
def test_a_body_nested_too_deep_is_a_400_and_the_server_answers_on(
    client: TestClient, path: str, body: str
) -> None:
    response = client.post(
        path, content=body, headers={**auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    message = error["message"] if isinstance(error, dict) else error  # batches: {"error": "..."}
    assert message == "The request body nests arrays and objects more than 64 levels deep"
    assert client.get("/v1/files", headers=auth()).status_code == 200
