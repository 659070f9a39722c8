"""Errors, always rendered in Together's body.

    TogetherError(status, type, message, param=None, code=None)
    ├── InvalidRequest        400  invalid_request_error
    │   └── InvalidTransition 400  a job cannot make the move asked of it
    ├── Unauthorized          401  invalid_api_key
    ├── NotFound              404  a file, job, checkpoint or model that does not exist
    ├── Conflict              409
    ├── UnprocessableEntity   422
    ├── RateLimited           429
    ├── ServerError           500
    └── InsufficientStorage   507  the disk under the data dir is full

Every response that is not a success carries ``{"error": {"message", "type", "param", "code"}}``
with ``param`` and ``code`` strings or null: the 1.5.x SDK asserts that shape and turns anything
else (a ``{"detail": ...}`` body, an integer code) into a confusing client-side exception.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

__all__ = [
    "Conflict",
    "InsufficientStorage",
    "InvalidRequest",
    "InvalidTransition",
    "NotFound",
    "RateLimited",
    "ServerError",
    "TogetherError",
    "Unauthorized",
    "UnprocessableEntity",
    "error_body",
    "is_disk_full",
]


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class TogetherError(Exception):
    status = 500
    type = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if type_ is not None:
            self.type = type_
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


class InvalidRequest(TogetherError):
    status = 400
    type = "invalid_request_error"


class InvalidTransition(InvalidRequest):
    pass


class Unauthorized(TogetherError):
    status = 401
    type = "invalid_api_key"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Invalid API key provided. You can find your API key at "
            "https://api.together.xyz/settings/api-keys.",
            code="invalid_api_key",
        )


class NotFound(TogetherError):
    status = 404
    type = "invalid_request_error"

    def __init__(
        self,
        kind: str,
        id_: str,
        *,
        message: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(
            message or f"{kind} {id_!r} not found", param=param, code=code or "not_found"
        )
        self.kind = kind
        self.id = id_


class Conflict(TogetherError):
    status = 409
    type = "invalid_request_error"


class UnprocessableEntity(TogetherError):
    status = 422
    type = "invalid_request_error"


class RateLimited(TogetherError):
    status = 429
    type = "rate_limit_exceeded"


class ServerError(TogetherError):
    status = 500
    type = "server_error"


class InsufficientStorage(TogetherError):
    """507, not 500: the request was fine and the server is, too, apart from its disk; a client
    (or the person running the simulator) can free space and send it again."""

    status = 507
    type = "server_error"


_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# SQLite's words for the same: no room for a page (FULL), or for the WAL index that every
# connection to a WAL database maps (IOERR_SHMSIZE: what reopening a data dir on a full disk
# fails with, before any page is written).
_DISK_FULL_SQLITE = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_SHMSIZE})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is the disk running out (of space, or of the user's quota), whether the
    OS said so or SQLite did: both answer a full disk with the same one line or 507."""
    if isinstance(exc, OSError):
        return exc.errno in _DISK_FULL_ERRNOS
    return isinstance(exc, sqlite3.Error) and exc.sqlite_errorcode in _DISK_FULL_SQLITE
