"""Every error class renders Together's body with the right status, type and code."""

from __future__ import annotations

import sqlite3

import pytest

from mock_server.core.errors import (
    Conflict,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TogetherError,
    Unauthorized,
    UnprocessableEntity,
    error_body,
    is_busy,
    is_disk_full,
)


def test_error_body_has_exactly_the_four_fields() -> None:
    assert error_body("nope", "invalid_request_error") == {
        "error": {"message": "nope", "type": "invalid_request_error", "param": None, "code": None}
    }


@pytest.mark.parametrize(
    ("error", "status", "type_"),
    [
        (TogetherError("x"), 500, "server_error"),
        (InvalidRequest("x"), 400, "invalid_request_error"),
        (InvalidTransition("x"), 400, "invalid_request_error"),
        (Conflict("x"), 409, "invalid_request_error"),
        (UnprocessableEntity("x"), 422, "invalid_request_error"),
        (RateLimited("x"), 429, "rate_limit_exceeded"),
        (ServerError("x"), 500, "server_error"),
    ],
)
def test_each_kind_has_its_status_and_type(error: TogetherError, status: int, type_: str) -> None:
    assert error.status == status
    assert error.body() == {"error": {"message": "x", "type": type_, "param": None, "code": None}}


def test_invalid_request_carries_param_and_code() -> None:
    error = InvalidRequest("Weight decay should be non-negative (got -1)", param="weight_decay")
    assert error.body() == {
        "error": {
            "message": "Weight decay should be non-negative (got -1)",
            "type": "invalid_request_error",
            "param": "weight_decay",
            "code": None,
        }
    }
    assert str(error) == "Weight decay should be non-negative (got -1)"


def test_the_type_can_be_overridden_per_instance() -> None:
    error = InvalidRequest("x", type_="model_not_available")
    assert error.body()["error"]["type"] == "model_not_available"
    assert InvalidRequest("y").type == "invalid_request_error"


def test_unauthorized_uses_together_wording_and_code() -> None:
    assert Unauthorized().status == 401
    assert Unauthorized().body() == {
        "error": {
            "message": "Invalid API key provided. You can find your API key at "
            "https://api.together.xyz/settings/api-keys.",
            "type": "invalid_api_key",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    assert Unauthorized("Missing API key.").body()["error"]["message"] == "Missing API key."


def test_not_found_names_the_kind_and_id_by_default() -> None:
    error = NotFound("file", "file-123")
    assert (error.status, error.kind, error.id) == (404, "file", "file-123")
    assert error.body() == {
        "error": {
            "message": "file 'file-123' not found",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }


def test_not_found_accepts_a_message_param_and_code() -> None:
    error = NotFound("model", "m", message="Unable to access model m.", param="model", code="x")
    assert error.body()["error"] == {
        "message": "Unable to access model m.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "x",
    }


def test_headers_travel_with_the_error() -> None:
    assert RateLimited("slow down", headers={"retry-after": "1"}).headers == {"retry-after": "1"}
    assert InvalidRequest("x").headers == {}


def test_a_busy_database_is_a_503_the_clients_retry_after_a_second() -> None:
    busy = ServiceUnavailable("locked")
    assert (busy.status, busy.type) == (503, "server_error")
    assert busy.headers == {"retry-after": "1"}  # lower case: the only spelling 1.5.x obeys


@pytest.mark.parametrize(
    ("code", "busy"),
    [
        (sqlite3.SQLITE_BUSY, True),
        (sqlite3.SQLITE_LOCKED, True),
        (sqlite3.SQLITE_BUSY | (2 << 8), True),  # SQLITE_BUSY_SNAPSHOT
        (sqlite3.SQLITE_FULL, False),
        (None, False),  # raised by hand: no code
    ],
)
def test_is_busy_is_sqlite_refusing_for_a_lock(code: int | None, busy: bool) -> None:
    error = sqlite3.OperationalError("database is locked")
    if code is not None:
        error.sqlite_errorcode = code  # type: ignore[attr-defined]
    assert is_busy(error) is busy
    assert not is_busy(OSError("database is locked"))


def test_an_sqlite_error_without_a_code_is_neither_full_nor_busy() -> None:
    """Raised by the sqlite3 module itself (a closed connection, a wrong thread), not by SQLite:
    no ``sqlite_errorcode``, and asking must not raise in the error handler."""
    error = sqlite3.ProgrammingError("Cannot operate on a closed database.")
    assert not is_disk_full(error) and not is_busy(error)
