"""The real ``together`` SDK driven with generated arguments, every exchange judged by the spec.

Schemathesis (``suite.py``) fuzzes the wire; this fuzzes the client: hypothesis builds the
arguments a user would pass to ``files.upload``, ``fine_tuning.create`` and friends and
``chat.completions.create`` (``fuzz_arguments``), the SDK turns them into whatever requests it
sends, and a ``RecordingTransport`` under its httpx client keeps each request and answer.
``judge`` then holds every exchange to the spec the way the server is meant to: a request valid
per the spec gets a 2xx or a business refusal (400/404 in Together's error body, naming the
field); an invalid one a 400 naming the field; every answer matches the schema documented for
its status. ``judge_call`` adds the client's side: a valid answer never makes the SDK fail
except with the ``APIStatusError`` subclass of its status (for 1.5.x, run in its own venv by
``client_fuzz_v1``, with the class that line maps the status to).

The spec is read by ``contracts.spec_oracle``, from the pinned document, never through the
simulator's own reading of it (``mock_server.spec``), which is under test like the rest of the
server: this module imports nothing from ``mock_server``.

The upload's three steps (``POST /files`` answered 302, the presigned ``PUT``, ``POST
/files/{id}/preprocess``) are not spec operations; the preprocess answer is still held to the
``FileResponse`` that ``GET /files/{id}`` documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from contracts.spec_oracle import SpecOperation, SpecOracle

__all__ = [
    "CallOutcome",
    "Exchange",
    "RecordingTransport",
    "StatusErrorCheck",
    "call_sdk",
    "judge",
    "judge_call",
    "status_error_3x",
]


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: str
    headers: httpx.Headers
    body: bytes
    status: int
    response_headers: httpx.Headers
    content: bytes

    def error(self) -> dict[str, Any]:
        try:
            body = json.loads(self.content)
        except ValueError:
            return {}
        error = body.get("error") if isinstance(body, dict) else None
        return error if isinstance(error, dict) else {}


class RecordingTransport(httpx.BaseTransport):
    """Passes each request to ``inner`` and keeps it with its whole answer."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = self.inner.handle_request(request)
        content = response.read()
        self.exchanges.append(
            Exchange(
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode(),
                headers=request.headers,
                body=body,
                status=response.status_code,
                response_headers=response.headers,
                content=content,
            )
        )
        return response

    def take(self) -> list[Exchange]:
        taken, self.exchanges = self.exchanges, []
        return taken


# --- judging exchanges --------------------------------------------------------------------------


def _sse_values(content: bytes) -> list[Any]:
    """Each event of an SSE stream as ``{"data": text}``: the spec (with the overlay) says what
    JSON the text holds, and the oracle reads it from there."""
    events = []
    for block in content.decode().split("\n\n"):
        data = "\n".join(
            line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")
        )
        if data:
            events.append({"data": data})
    return events


def _media(headers: httpx.Headers) -> str:
    content_type: str = headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower()


def _body_problems(oracle: SpecOracle, op: SpecOperation, exchange: Exchange) -> list[str]:
    reply = op.reply_for(exchange.status)
    label = f"{op.name} {exchange.status}"
    if reply is None:
        return [f"{label}: the status is not documented"]
    media = _media(exchange.response_headers)
    if not reply:
        return []
    if media not in reply:
        return [f"{label}: content type {media!r} is not documented ({list(reply)})"]
    pointer = reply[media]
    if pointer is None:
        return []
    try:
        values = (
            _sse_values(exchange.content)
            if media == "text/event-stream"
            else [json.loads(exchange.content)]
        )
    except ValueError:
        return [f"{label}: the answer is not the JSON its content type says"]
    problems = []
    for value in values:
        if value == {"data": "[DONE]"}:
            continue  # the stream's end marker, which the SDKs read as the end, not as an event
        error = oracle.first_error(value, pointer)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{label}: the answer breaks the schema at /{where}: {error.message}")
    return problems


def judge(oracle: SpecOracle, exchange: Exchange) -> list[str]:
    """What is wrong with one exchange, as the spec reads it (empty when nothing is)."""
    found = oracle.match(exchange.method, exchange.path)
    label = f"{exchange.method} {exchange.path} -> {exchange.status}"
    if found is None:
        return _off_spec_problems(oracle, exchange, label)
    op, params = found
    problems = [f"{label}: {p}" for p in _body_problems(oracle, op, exchange)]
    invalid = oracle.request_problem(
        op, path=params, query=exchange.query, headers=exchange.headers, body=exchange.body
    )
    error = exchange.error()
    if invalid is not None:
        if exchange.status != 400 or not error.get("param"):
            problems.append(f"{label}: invalid per the spec ({invalid}) yet not a 400 with param")
    elif not 200 <= exchange.status < 300:
        business = exchange.status in (400, 404) and error.get("message") and error.get("type")
        if not business:
            problems.append(
                f"{label}: valid per the spec yet refused as {error or exchange.content!r}"
            )
    return problems


def _off_spec_problems(oracle: SpecOracle, exchange: Exchange, label: str) -> list[str]:
    """The upload's steps, which no spec operation covers: the status each client requires, and
    the preprocess answer held to the spec's ``FileResponse``."""
    if exchange.method == "POST" and exchange.path == "/v1/files":
        return [] if exchange.status in (302, 400) else [f"{label}: the upload must answer 302"]
    if exchange.method == "PUT":
        return [] if exchange.status == 200 else [f"{label}: the presigned PUT must answer 200"]
    if exchange.method == "POST" and exchange.path.endswith("/preprocess"):
        if exchange.status != 200:
            return [f"{label}: preprocess refused {exchange.content!r}"]
        pointer = oracle.by_key("GET", "/files/{id}").success["application/json"]
        assert pointer is not None
        error = oracle.first_error(json.loads(exchange.content), pointer)
        return [] if error is None else [f"{label}: not a FileResponse: {error.message}"]
    return [f"{label}: no spec operation and no known upload step"]


# --- judging the SDK's side ---------------------------------------------------------------------


@dataclass
class CallOutcome:
    result: Any = None
    error: BaseException | None = None
    exchanges: list[Exchange] = field(default_factory=list)


def call_sdk(recorder: RecordingTransport, call: Callable[[], Any]) -> CallOutcome:
    """Run one SDK call (a stream is read to its end) and keep what it sent."""
    recorder.take()
    outcome = CallOutcome()
    try:
        result = call()
        if hasattr(result, "__iter__") and type(result).__name__ == "Stream":
            result = list(result)
        outcome.result = result
    except Exception as exc:  # judged below: any kind of failure is a finding or a refusal
        outcome.error = exc
    outcome.exchanges = recorder.take()
    return outcome


def _status_error_for(status: int) -> type[Exception]:
    import together

    by_status: dict[int, type[Exception]] = {
        400: together.BadRequestError,
        401: together.AuthenticationError,
        403: together.PermissionDeniedError,
        404: together.NotFoundError,
        409: together.ConflictError,
        422: together.UnprocessableEntityError,
        429: together.RateLimitError,
    }
    return by_status.get(status, together.InternalServerError if status >= 500 else Exception)


StatusErrorCheck = Callable[[BaseException], "list[str] | None"]
"""Reads an SDK's failure: None when it is not the SDK's error for an answer's status, else what
is wrong with its class for that status (empty when it is the class the SDK maps it to)."""


def status_error_3x(error: BaseException) -> list[str] | None:
    import together

    if not isinstance(error, together.APIStatusError):
        return None
    expected = _status_error_for(error.status_code)
    return (
        [] if isinstance(error, expected) else [f"{type(error).__name__} for a {expected.__name__}"]
    )


def judge_call(
    oracle: SpecOracle,
    outcome: CallOutcome,
    target: str,
    *,
    status_error: StatusErrorCheck = status_error_3x,
) -> list[str]:
    """Every exchange of the call judged, and the SDK's own result: a parsed object, the status
    error of the answer it got for ``target`` (an operation name), or, before ``target`` was sent,
    a local refusal of its arguments. ``status_error`` knows the SDK line's error classes."""
    problems = [p for exchange in outcome.exchanges for p in judge(oracle, exchange)]
    sent = [
        e
        for e in outcome.exchanges
        if (m := oracle.match(e.method, e.path)) is not None and m[0].name == target
    ]
    if outcome.error is None:
        if not sent:
            problems.append(f"{target}: the call returned without sending it")
        elif not 200 <= sent[-1].status < 300:
            problems.append(
                f"{target}: the call returned although the answer was {sent[-1].status}"
            )
        return problems
    wrong_class = status_error(outcome.error)
    if wrong_class is not None:
        return problems + [f"{target}: {p}" for p in wrong_class]
    if sent:
        problems.append(f"{target}: the SDK failed on the answer: {outcome.error!r}")
    return problems
