"""Chat and text completions on catalogue models, on the output names of completed jobs and on
the names of STARTED dedicated endpoints, answered with deterministic synthetic text, as JSON or as
server-sent events. A job trained for real (by its output name, or behind an endpoint) answers with
its model, generated in the inference worker. The handlers run in a worker thread (``off_loop``):
what a name answers with is looked up in the store, and a real model's answer takes seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from mock_server.core.ids import stable_int
from mock_server.core.offload import off_loop
from mock_server.core.timefmt import unix
from mock_server.deps import ClockDep, InferenceDep, TenantDep
from mock_server.inference.models import (
    ChatRequest,
    Completion,
    CompletionRequest,
    Sampling,
    chat_body,
    chat_id,
    complete,
    prompt_text,
    text_body,
    text_id,
    usage,
)
from mock_server.inference.service import Inference, Serving
from mock_server.spec.routing import SpecRoute

__all__ = ["router"]


# SpecRoute checks the whole request against the spec (a 400 naming the field), fields the
# simulator ignores included: ``logit_bias: {"1": "x"}`` is refused as by the service.
router = APIRouter(prefix="/v1", tags=["Chat", "Completion"], route_class=SpecRoute)


def _answer(
    inference: Inference,
    served: Serving,
    body: Sampling,
    *,
    prompt: str,
    messages: list[dict[str, Any]] | None,
) -> Completion:
    if served.real is None:
        return complete(
            served.answers_as, prompt, max_tokens=body.max_tokens, seed=body.seed, stop=body.stops
        )
    return inference.real_training.complete(
        served.real,
        messages=messages,
        prompt=None if messages is not None else prompt,
        max_tokens=body.max_tokens,
        seed=body.seed,
        stop=body.stops,
    )


def _token(text: str, *, special: bool) -> dict[str, Any]:
    """A streamed token: a stable id for its text and a plausible log-probability."""
    number = stable_int("token", text) % 32_000
    return {
        "id": number,
        "text": text,
        "logprob": -round(0.05 + number % 97 / 100, 2),
        "special": special,
    }


def _sse(chunks: Iterator[dict[str, Any]]) -> StreamingResponse:
    """Each chunk as an event of one ``data`` line, then ``[DONE]``, encoded by sse-starlette
    (imported by the first stream, not at startup). Not its ``EventSourceResponse``: a finite
    stream needs no pings, and clients see the headers they always saw."""
    from sse_starlette import ServerSentEvent

    def body() -> Iterator[bytes]:
        for chunk in chunks:
            yield ServerSentEvent(json.dumps(chunk), sep="\n").encode()
        yield ServerSentEvent("[DONE]", sep="\n").encode()

    return StreamingResponse(body(), media_type="text/event-stream")


@router.post("/chat/completions", response_model=None)
@off_loop
def chat_completions(
    body: ChatRequest, inference: InferenceDep, clock: ClockDep, tenant: TenantDep
) -> dict[str, Any] | StreamingResponse:
    served = inference.serving(tenant, body.model)
    model = served.model
    prompt = prompt_text(body.messages)
    result = _answer(inference, served, body, prompt=prompt, messages=body.messages)
    created = unix(clock.now())
    if not body.stream:
        return chat_body(model, prompt, body.seed, created, result)
    id_ = chat_id(model, prompt, body.seed, created)

    def chunks() -> Iterator[dict[str, Any]]:
        base = {"id": id_, "object": "chat.completion.chunk", "created": created, "model": model}
        for piece in result.chunks():
            yield {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": None,
                        "delta": {"role": "assistant", "content": piece},
                    }
                ],
            }
        yield {
            **base,
            "usage": usage(result),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": result.finish_reason,
                    "delta": {"role": "assistant", "content": ""},
                }
            ],
        }

    return _sse(chunks())


@router.post("/completions", response_model=None)
@off_loop
def completions(
    body: CompletionRequest, inference: InferenceDep, clock: ClockDep, tenant: TenantDep
) -> dict[str, Any] | StreamingResponse:
    served = inference.serving(tenant, body.model)
    model = served.model
    result = _answer(inference, served, body, prompt=body.prompt, messages=None)
    created = unix(clock.now())
    if not body.stream:
        return text_body(model, body.prompt, body.seed, created, result)
    id_ = text_id(model, body.prompt, body.seed, created)

    def chunks() -> Iterator[dict[str, Any]]:
        # Each chunk of Together's (legacy) completion stream carries its token, and `usage`
        # and `finish_reason` (null until the last chunk), as the spec's CompletionChunk requires.
        base = {"id": id_, "object": "completion.chunk", "created": created, "model": model}
        for piece in result.chunks():
            yield {
                **base,
                "token": _token(piece, special=False),
                "choices": [{"index": 0, "text": piece, "finish_reason": None}],
                "usage": None,
                "finish_reason": None,
            }
        yield {
            **base,
            "token": _token("", special=True),  # the end-of-sequence token, which prints nothing
            "choices": [{"index": 0, "text": "", "finish_reason": result.finish_reason}],
            "usage": usage(result),
            "finish_reason": result.finish_reason,
        }

    return _sse(chunks())
