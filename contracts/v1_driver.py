"""A long-lived ``together`` 1.5.x process that runs one SDK call per line of stdin.

1.5.x and 3.x are both the package ``together``, so 1.5.x cannot be imported beside the tests;
``client_fuzz_v1.V1Driver`` starts this file under the 1.5.x venv's interpreter once and sends
it each generated call. Starting a process per example would cost a second of imports each, which
is the whole time budget of a fuzz test.

Each command is ``{"call": "fine_tuning.create", "kwargs": {...}}`` (a dotted path on the client).
The answer, one JSON line, holds what the call returned (dumped through the SDK's own strict
models, a stream read to its end) or what it raised (the class, the names of its bases, its
``http_status``), and every HTTP exchange the SDK made, recorded under ``requests`` by wrapping
``HTTPAdapter.send``: both the SDK's session and the upload's bare ``requests`` calls go through
it. Bodies travel base64-encoded. Only the stdlib, ``requests`` and ``together`` are imported.

Usage: ``v1_driver.py``, with ``TOGETHER_API_KEY`` and ``TOGETHER_BASE_URL`` (ROOT/v1) set.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter

_exchanges: list[dict[str, Any]] = []


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _request_body(request: requests.PreparedRequest) -> bytes:
    body: Any = request.body
    if hasattr(body, "read"):
        # The upload's PUT streams the open file; read it here so that it can be recorded, and
        # send the same bytes (the Content-Length the SDK set is theirs).
        body = body.read()
        request.body = body
    if body is None:
        return b""
    return body.encode() if isinstance(body, str) else bytes(body)


def _recording(send: Callable[..., requests.Response]) -> Callable[..., requests.Response]:
    def recording_send(
        adapter: HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        body = _request_body(request)
        response = send(adapter, request, **kwargs)
        # Read the whole answer now, a stream too: requests serves later reads (iter_lines) from it.
        content = response.content
        url = urlsplit(request.url or "")
        raw_headers = getattr(response.raw, "headers", None) or response.headers
        _exchanges.append(
            {
                "method": request.method,
                "path": unquote(url.path),
                "query": url.query,
                "headers": list(request.headers.items()),
                "body": _b64(body),
                "status": response.status_code,
                "response_headers": [[k, v] for k, v in raw_headers.items()],
                "content": _b64(content),
            }
        )
        return response

    return recording_send


def _summary(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Iterator):
        return [_summary(item) for item in value]
    if isinstance(value, list | tuple):
        return [_summary(item) for item in value]
    return value if value is None or isinstance(value, str | int | float | bool) else repr(value)


def _run(client: Any, command: dict[str, Any]) -> dict[str, Any]:
    target = client
    for name in str(command["call"]).split("."):
        target = getattr(target, name)
    try:
        outcome: dict[str, Any] = {"returned": _summary(target(**command.get("kwargs", {})))}
    except Exception as exc:  # which exception the SDK raised is the point of the call
        outcome = {
            "raised": {
                "name": type(exc).__name__,
                "mro": [cls.__name__ for cls in type(exc).__mro__],
                "http_status": getattr(exc, "http_status", None),
                "message": str(exc)[:2000],
            }
        }
    return outcome


def main() -> None:
    from together import Together

    answers = sys.stdout
    sys.stdout = sys.stderr  # a stray print of the SDK must not break the protocol
    HTTPAdapter.send = _recording(HTTPAdapter.send)  # type: ignore[method-assign]
    # Retries off: a 5xx or 429 is a finding, and 1.5.x's backoff would spend ~23 s on each.
    # (The upload's three steps pass their own retry count; the simulator must not need them.)
    client = Together(max_retries=0)
    for line in sys.stdin:
        if not line.strip():
            continue
        _exchanges.clear()
        outcome = _run(client, json.loads(line))
        outcome["exchanges"] = list(_exchanges)
        answers.write(json.dumps(outcome) + "\n")
        answers.flush()


if __name__ == "__main__":
    os.environ.setdefault("TOGETHER_NO_BANNER", "1")
    main()
