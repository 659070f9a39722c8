"""Batch jobs, pure: the input file's format, a batch's walk through its statuses, and the lines
of its output and error files.

A batch's status is read off the clock with ``lifecycle.py``: the walk is planned when it is
created, from its size, and a cancel starts a new one. Nothing here reads a clock, touches the
store or logs; ``service.py`` ties it to them.

    create ─→ VALIDATING ─→ IN_PROGRESS ─→ COMPLETED         (10 s, then 0.5 s a request)
                  │              │
    cancel        └──────────────┴──→ CANCELLED               (what was answered is kept)

``FAILED`` is a batch whose input file was deleted before its results were written; the spec's
``EXPIRED`` (past ``job_deadline``) cannot happen at this pace: 50,000 requests take 7 hours of
the 24. The spec's enum has no ``CANCELLING``, so a cancel takes effect at once.

Input lines are Together's: ``{"custom_id": ..., "body": {...}}``, with ``method`` (``POST``, or
``FILE`` for the audio endpoints) and ``url`` (the batch's endpoint) allowed. Output and error
lines follow OpenAI's batch format, which Together's clients read (Together publishes only that
each line carries the input's ``custom_id``): ``{"id", "custom_id", "response": {"status_code",
"request_id", "body"}, "error"}``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from mock_server.core.errors import InvalidRequest
from mock_server.core.ids import stable_int
from mock_server.core.lifecycle import Lifecycle, Move, Progress, begin, ends_at, entered_at
from mock_server.core.timefmt import unix

__all__ = [
    "AUDIO_ENDPOINTS",
    "ENDPOINTS",
    "LIFECYCLE",
    "MAX_FILE_BYTES",
    "MAX_REQUESTS",
    "TERMINAL",
    "BatchRequest",
    "BatchStatus",
    "InputLineError",
    "answered_at",
    "check_create",
    "job_deadline",
    "parse_input",
    "plan",
    "processed_at",
    "result_lines",
]


class BatchStatus(StrEnum):
    VALIDATING = "VALIDATING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


TERMINAL: Final = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED}
)

# The SDK 3.1.1 endpoint enum, and /v1/completions from 1.5.x's BatchEndpoint.
AUDIO_ENDPOINTS: Final = ("/v1/audio/transcriptions", "/v1/audio/translations")
ENDPOINTS: Final = ("/v1/chat/completions", "/v1/completions", *AUDIO_ENDPOINTS)
# Together's published limits: requests per batch, bytes per input file, custom_id length.
MAX_REQUESTS: Final = 50_000
MAX_FILE_BYTES: Final = 100 * 2**20
MAX_CUSTOM_ID: Final = 64
COMPLETION_WINDOW: Final = "24h"  # "defaults to 24h and cannot be changed"
VALIDATING_SECONDS: Final = 10.0  # estimated
REQUEST_SECONDS: Final = 0.5  # estimated: "small batches typically finish in minutes"

LIFECYCLE: Final = Lifecycle(
    steps=(("VALIDATING", VALIDATING_SECONDS),),  # the in-progress step depends on the size
    rest="COMPLETED",
    moves={
        "cancel": Move(
            steps=(),
            rest="CANCELLED",
            allowed=frozenset({"VALIDATING", "IN_PROGRESS"}),
        ),
        "fail": Move(steps=(), rest="FAILED"),
    },
)


@dataclass(frozen=True)
class BatchRequest:
    line: int  # 1-based, as in messages
    custom_id: str
    body: dict[str, Any]


def check_create(endpoint: str, completion_window: str | None) -> str | None:
    """The create's checks; what it returns is the answer's ``warning``: the window is always
    24 hours ("defaults to 24h and cannot be changed"), so another one is ignored, and said."""
    if endpoint not in ENDPOINTS:
        raise InvalidRequest(
            f"endpoint must be one of {', '.join(ENDPOINTS)} (got {endpoint!r})", param="endpoint"
        )
    if completion_window not in (None, COMPLETION_WINDOW):
        return (
            f"completion_window {completion_window!r} was ignored: a batch always has "
            f"{COMPLETION_WINDOW} to complete"
        )
    return None


class InputLineError(InvalidRequest):
    """A bad line of a batch input file: the 400 names it, and so does the upload's report."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"Line {line}: {message}", param="input_file_id")
        self.line = line


def _line_error(number: int, message: str) -> InvalidRequest:
    return InputLineError(number, message)


def _request(number: int, text: str, endpoint: str | None) -> BatchRequest:
    try:
        row = json.loads(text)
    except ValueError:
        raise _line_error(number, "not valid JSON") from None
    if not isinstance(row, dict):
        raise _line_error(number, "must be a JSON object with custom_id and body")
    custom_id = row.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise _line_error(number, "custom_id is required (a non-empty string)")
    if len(custom_id) > MAX_CUSTOM_ID:
        raise _line_error(number, f"custom_id is longer than {MAX_CUSTOM_ID} characters")
    body = row.get("body")
    if not isinstance(body, dict):
        raise _line_error(number, "body is required (an object: the request to the endpoint)")
    method = row.get("method")
    methods = ("POST", "FILE") if endpoint is None or endpoint in AUDIO_ENDPOINTS else ("POST",)
    if method is not None and method not in methods:
        raise _line_error(number, f"method must be {' or '.join(methods)} (got {method!r})")
    url = row.get("url")
    urls = ENDPOINTS if endpoint is None else (endpoint,)
    if url is not None and url not in urls:
        raise _line_error(number, f"url must be {' or '.join(urls)} (got {url!r})")
    return BatchRequest(number, custom_id, body)


def parse_input(data: bytes, endpoint: str | None) -> list[BatchRequest]:
    """The requests of a batch input file, for ``endpoint`` (``None``: before a batch names
    one, as when the file is uploaded); the first bad line is a 400 naming it."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidRequest(
            f"The input file has {len(data)} bytes, more than the {MAX_FILE_BYTES} a batch takes",
            param="input_file_id",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The input file is not UTF-8 text", param="input_file_id") from None
    requests: list[BatchRequest] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        request = _request(number, line, endpoint)
        if request.custom_id in seen:
            raise _line_error(
                number, f"custom_id {request.custom_id!r} repeats line {seen[request.custom_id]}"
            )
        seen[request.custom_id] = number
        requests.append(request)
        if len(requests) > MAX_REQUESTS:
            raise _line_error(number, f"a batch holds at most {MAX_REQUESTS} requests")
    if not requests:
        raise InvalidRequest("The input file has no requests", param="input_file_id")
    return requests


def job_deadline(created_at: datetime) -> datetime:
    return created_at + timedelta(hours=24)


def plan(requests: int, now: datetime, speed: float) -> Progress:
    """The walk of a new batch of ``requests`` requests, at ``speed`` times the service's
    pace."""
    steps = (*LIFECYCLE.steps, ("IN_PROGRESS", requests * REQUEST_SECONDS))
    return begin(steps, LIFECYCLE.rest, now, speed)


def processed_at(progress: Progress, requests: int, now: datetime) -> int:
    """How many requests the batch has answered by ``now`` on its planned walk (a cancel keeps
    the count it had reached, so the caller asks before cancelling)."""
    started = entered_at(progress, "IN_PROGRESS")
    if started is None or now <= progress.since:
        return 0
    finished = ends_at(progress)
    if now >= finished:
        return requests
    span = (finished - started).total_seconds()
    done = (now - started).total_seconds()
    return max(0, min(requests, int(requests * done / span))) if span > 0 else 0


def answered_at(progress: Progress, requests: int, index: int) -> datetime:
    """When request ``index`` (0-based) is answered on the planned walk: its ``created``."""
    started = entered_at(progress, "IN_PROGRESS") or progress.since
    span = (ends_at(progress) - started).total_seconds()
    return started + timedelta(seconds=span * (index + 1) / max(requests, 1))


Answer = Callable[[BatchRequest, int], tuple[int, dict[str, Any]]]


def result_lines(
    batch_id: str, requests: Sequence[BatchRequest], created: Sequence[datetime], answer: Answer
) -> tuple[list[str], list[str]]:
    """The output lines (2xx answers) and error lines (the rest) of ``requests``, each answered
    by ``answer(request, created_unix)``, in input order."""
    output: list[str] = []
    errors: list[str] = []
    for request, moment in zip(requests, created, strict=True):
        status, body = answer(request, unix(moment))
        key = stable_int(batch_id, request.custom_id)
        line: dict[str, Any] = {
            "id": f"batch_req_{key:016x}",
            "custom_id": request.custom_id,
            "response": {
                "status_code": status,
                "request_id": str(uuid.UUID(int=key << 64 | key, version=4)),
                "body": body,
            },
            "error": None,
        }
        if 200 <= status < 300:
            output.append(json.dumps(line, ensure_ascii=False))
        else:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            line["error"] = {"code": error.get("code"), "message": error.get("message")}
            errors.append(json.dumps(line, ensure_ascii=False))
    return output, errors
