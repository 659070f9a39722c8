"""Errors, always rendered in Together's body.

    TogetherError(status, type, message, param=None, code=None)
    ├── InvalidRequest        400  invalid_request_error
    │   └── InvalidTransition 400  a job cannot make the move asked of it
    ├── Unauthorized          401  invalid_api_key
    ├── NotFound              404  a file, job, checkpoint or model that does not exist
    ├── RequestTimeout        408  a request's head or body stopped arriving
    ├── Conflict              409
    ├── PayloadTooLarge       413  a body past its limit (core/limits.py)
    ├── UnprocessableEntity   422
    ├── RateLimited           429
    ├── HeadersTooLarge       431  a request line and headers past their limit
    ├── ServerError           500
    ├── ServiceUnavailable    503  the database is locked by another process: retry shortly
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
    "HeadersTooLarge",
    "InsufficientStorage",
    "InvalidRequest",
    "InvalidTransition",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "ServerError",
    "ServiceUnavailable",
    "TogetherError",
    "Unauthorized",
    "UnprocessableEntity",
    "error_body",
    "is_busy",
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


class RequestTimeout(TogetherError):
    """The client stopped sending: the connection is closed after it (``connection: close``),
    since where its request ends is no longer known."""

    status = 408
    type = "invalid_request_error"


class PayloadTooLarge(TogetherError):
    status = 413
    type = "invalid_request_error"


class HeadersTooLarge(TogetherError):
    status = 431
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


class ServiceUnavailable(TogetherError):
    """503 with a lower-case ``retry-after`` (the only spelling the 1.5.x SDK obeys; 3.x obeys it
    too, up to 60 s): the request was fine and will go through once what holds the server up
    (another process's write lock on its database) lets go, so both SDKs send it again."""

    status = 503
    type = "server_error"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"retry-after": str(retry_after)})


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
    code = getattr(exc, "sqlite_errorcode", None)  # None on one SQLite's C code did not raise
    return isinstance(exc, sqlite3.Error) and code in _DISK_FULL_SQLITE


# SQLite's "database is locked" (BUSY: another connection holds the lock) and "database table is
# locked" (LOCKED), with their extended codes (BUSY_SNAPSHOT, LOCKED_SHAREDCACHE...) in the high
# byte.
_BUSY_SQLITE = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite refusing for a lock another connection holds: a 503 to retry,
    not a 500."""
    code = getattr(exc, "sqlite_errorcode", None)  # None on one SQLite's C code did not raise
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _BUSY_SQLITE
