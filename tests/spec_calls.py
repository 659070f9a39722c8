"""Calls to the stateful families over a ``TestClient``, named by the spec's operation, each answer
checked against the spec's schema for its status as the SDKs read the spec (``oneOf`` as a union,
``nullable``): ``mock_server.spec.validate``'s validator over the served spec's index."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi.testclient import TestClient

from mock_server.spec.index import operation_index
from mock_server.spec.schemas import sdk_schema
from mock_server.spec.validate import first_error
from openapi.locate import find_spec_path
from openapi.spec import load_spec
from tests.steps import KEY, auth

__all__ = ["Api", "assert_valid_reply"]


@cache
def _error_data() -> dict[str, Any]:
    """The spec's ``ErrorData`` (Together's error body), read as the SDKs read it."""
    spec = load_spec(find_spec_path(allow_download=False))
    return sdk_schema({"$ref": "#/components/schemas/ErrorData"}, spec)


def assert_valid_reply(body: Any, key: str, status: int = 200) -> None:
    """``body`` matches what operation ``key`` (``"GET /jobs/{jobId}"``) documents for ``status``;
    an error the operation leaves undocumented (a 404 on a body's id) is Together's body."""
    method, path = key.split(" ", 1)
    reply = operation_index().by_key(method, path).reply_for(status)
    schema = reply.content.get("application/json") if reply else None
    if schema is None:
        assert status >= 400, f"{key} documents no JSON body for {status}"
        schema = _error_data()
    error = first_error(body, schema)
    assert error is None, f"{list(error.absolute_path)}: {error.message}"


class Api:
    """``api.call("GET /deployments/{id}", id="my-app")``: the spec's path filled in, the answer's
    status asserted and its body checked against the spec."""

    def __init__(self, client: TestClient, key: str = KEY) -> None:
        self.client = client
        self.key = key

    def call(
        self,
        key: str,
        *,
        json: Any = None,
        query: dict[str, Any] | None = None,
        status: int = 200,
        **path: str,
    ) -> Any:
        method, spec_path = key.split(" ", 1)
        response = self.client.request(
            method,
            "/v1" + spec_path.format(**path),
            headers=auth(self.key),
            json=json,
            params=query,
        )
        assert response.status_code == status, response.text
        body = response.json()
        assert_valid_reply(body, key, status)
        return body

    def error(
        self,
        key: str,
        status: int,
        *,
        json: Any = None,
        query: dict[str, Any] | None = None,
        **path: str,
    ) -> dict[str, Any]:
        """The error ``key`` answers with ``status``, as Together's body's ``error`` object."""
        body = self.call(key, json=json, query=query, status=status, **path)
        error: dict[str, Any] = body["error"]
        return error

    def advance(self, seconds: float) -> None:
        moved = self.client.post("/_sim/advance", json={"seconds": seconds})
        assert moved.status_code == 200, moved.text
