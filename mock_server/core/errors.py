"""Errors, always rendered in Together's body.

    TogetherError(status, type, message, param=None, code=None)
    ├── InvalidRequest        400  invalid_request_error
    │   └── InvalidTransition 400  a job cannot make the move asked of it
    ├── Unauthorized          401  invalid_api_key
    ├── NotFound              404  a file, job, checkpoint or model that does not exist
    ├── Conflict              409
    ├── UnprocessableEntity   422
    ├── RateLimited           429
    └── ServerError           500

Every response that is not a success carries ``{"error": {"message", "type", "param", "code"}}``
with ``param`` and ``code`` strings or null: the 1.5.x SDK asserts that shape and turns anything
else (a ``{"detail": ...}`` body, an integer code) into a confusing client-side exception.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "InvalidRequest",
    "InvalidTransition",
    "NotFound",
    "RateLimited",
    "ServerError",
    "TogetherError",
    "Unauthorized",
    "UnprocessableEntity",
    "error_body",
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
