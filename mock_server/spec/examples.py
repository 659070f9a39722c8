"""The success answer to a valid request for a spec operation, as the bytes that go on the wire.

The generic layer answers an operation from its spec alone (``synth`` for JSON, ``media`` for
audio, text and event streams), echoing what the request said into the fields of the same name.
That answer is a pure function of the operation, the content type chosen, the status, and the
scalar values the request gave (its query, body scalars and path). So it is built once for each
such combination and kept, serialised: a client's CI suite sends the same few requests over and
over (sync and async, raw and streamed), and each repeat then costs a dict lookup instead of a
deep copy, an echo checked against the schema, and a JSON encoding. The kept answers are bounded
(the oldest goes first), so fuzzing with ever-new values cannot grow the process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from mock_server.core.errors import InvalidRequest
from mock_server.spec.index import SpecOperation
from mock_server.spec.media import SSE, binary_body, choose_content_type, is_json, sse_body
from mock_server.spec.synth import echo, synthesize
from mock_server.spec.validate import ValidRequest, is_valid

__all__ = ["Answer", "success_answer"]

_KEPT_MAX = 4096  # answers kept; each is a few KB at most
_kept: dict[tuple[Any, ...], tuple[SpecOperation, Answer]] = {}


@dataclass(frozen=True)
class Answer:
    """A finished response: status, the headers Starlette would send for it, and the body."""

    status: int
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def response(self) -> Response:
        response = Response(self.body, self.status)
        response.raw_headers = list(self.raw_headers)
        return response


def success_answer(op: SpecOperation, valid: ValidRequest, accept: str, base_url: str) -> Answer:
    """The documented success for ``op`` (``InvalidRequest`` for a WebSocket operation).
    ``base_url`` (``http://host:port/``) is only read for a redirect, whose target is here."""
    reply = op.success
    status = int(reply.status) if reply.status.isdigit() else 200
    if status == 101:
        raise InvalidRequest(
            f"{op.method} {op.route} is a WebSocket endpoint: connect with Upgrade: websocket "
            "(together-sim does not serve WebSockets)",
        )
    content_type = choose_content_type(reply.content, valid.body, accept)
    given = _echoed(op, valid)
    if 300 <= status < 400:
        name = quote(next(iter(valid.path.values()), "file"), safe="")
        given["location"] = f"{base_url.rstrip('/')}/_examples/blob?name={name}"
    key = (id(op), content_type, _scalars(given))
    kept = _kept.get(key)
    if kept is None or kept[0] is not op:  # holding ``op`` keeps its id from being reused
        if len(_kept) >= _KEPT_MAX:
            del _kept[next(iter(_kept))]
        kept = _kept[key] = (op, _build(op, status, content_type, given))
    return kept[1]


def _scalars(given: dict[str, Any]) -> tuple[tuple[str, type, Any], ...]:
    """What of ``given`` can reach the answer: only scalars are echoed. The type is part of the
    key, since ``1``, ``1.0`` and ``True`` are equal as dict keys but not as JSON."""
    return tuple(
        (name, type(value), value)
        for name, value in sorted(given.items())
        if isinstance(value, str | int | float | bool)
    )


def _echoed(op: SpecOperation, valid: ValidRequest) -> dict[str, Any]:
    """What the request said, by field name: query, then body scalars, then the path (whose
    last parameter also stands for an ``id``: ``/endpoints/{endpointId}`` answers that id)."""
    given: dict[str, Any] = dict(valid.query)
    if isinstance(valid.body, dict):
        given.update(valid.body)
    names = [p.name for p in op.parameters if p.location == "path"]
    if names:
        given["id"] = valid.path[names[-1]]
    given.update(valid.path)
    return given


def _build(
    op: SpecOperation, status: int, content_type: str | None, given: dict[str, Any]
) -> Answer:
    headers = {"Location": given["location"]} if "location" in given else {}
    if content_type is None or status == 204:
        return _finished(Response(status_code=status, headers=headers))
    schema = op.success.content[content_type] or {}
    if content_type == SSE:
        # The spec's stream is a union of event objects (an event's ``data`` a chunk, then the
        # ``[DONE]`` sentinel): one event of each, in the spec's order.
        events = []
        for variant in schema.get("anyOf", [schema]):
            event = synthesize(variant)
            if isinstance(event, dict) and isinstance(event.get("data"), dict):
                data_schema = variant.get("properties", {}).get("data", {})
                event["data"] = echo(event["data"], data_schema, given)
            events.append(event)
        return _finished(Response(sse_body(events), status, headers, media_type=SSE))
    if is_json(content_type):
        body = echo(synthesize(schema), schema, given)
        if "location" in given and is_valid(given["location"], schema):
            body = given["location"]  # a redirect's body is the URL it points to
        text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return _finished(Response(text.encode(), status, headers, media_type=content_type))
    data = binary_body(content_type, schema.get("example"))
    return _finished(Response(data, status, headers, media_type=content_type))


def _finished(response: Response) -> Answer:
    return Answer(response.status_code, tuple(response.raw_headers), bytes(response.body))
