"""Chat and text completions on catalogue models and on the output names of completed jobs,
answered with deterministic synthetic text, as JSON or as server-sent events. The output name of a
job trained for real is answered by its model, generated in the inference worker (off the event
loop, in a thread)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from mock_server.backend import Backend
from mock_server.deps import BackendDep, TenantDep
from mock_server.ids import stable_int
from mock_server.inference import Completion, complete, prompt_text
from mock_server.timefmt import unix

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Chat", "Completion"])


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    stream: bool = False
    seed: int | None = None
    stop: str | list[str] | None = None

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatRequest(_Sampling):
    messages: list[dict[str, Any]] = Field(min_length=1)


class CompletionRequest(_Sampling):
    prompt: str


def _usage(c: Completion) -> dict[str, int]:
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
    }


async def _answer(
    backend: Backend,
    model: str,
    body: _Sampling,
    *,
    prompt: str,
    messages: list[dict[str, Any]] | None,
    tenant: str,
) -> Completion:
    real = backend.real_model_of(tenant, model)
    if real is None:
        return complete(model, prompt, max_tokens=body.max_tokens, seed=body.seed, stop=body.stops)
    return await run_in_threadpool(
        backend.real_completion,
        real,
        messages=messages,
        prompt=None if messages is not None else prompt,
        max_tokens=body.max_tokens,
        seed=body.seed,
        stop=body.stops,
    )


def _sse(chunks: Iterator[dict[str, Any]]) -> StreamingResponse:
    def body() -> Iterator[str]:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatRequest, backend: BackendDep, tenant: TenantDep
) -> dict[str, Any] | StreamingResponse:
    model = backend.chat_model(tenant, body.model)
    prompt = prompt_text(body.messages)
    result = await _answer(
        backend, model, body, prompt=prompt, messages=body.messages, tenant=tenant
    )
    created = unix(backend.clock.now())
    id_ = f"chatcmpl-{stable_int(model, prompt, body.seed, created):016x}"
    if not body.stream:
        return {
            "id": id_,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "prompt": [],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": result.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(result),
        }

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
            "usage": _usage(result),
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
async def completions(
    body: CompletionRequest, backend: BackendDep, tenant: TenantDep
) -> dict[str, Any] | StreamingResponse:
    model = backend.chat_model(tenant, body.model)
    result = await _answer(backend, model, body, prompt=body.prompt, messages=None, tenant=tenant)
    created = unix(backend.clock.now())
    id_ = f"cmpl-{stable_int(model, body.prompt, body.seed, created):016x}"
    if not body.stream:
        return {
            "id": id_,
            "object": "text.completion",
            "created": created,
            "model": model,
            "prompt": [],
            "choices": [
                {
                    "index": 0,
                    "text": result.text,
                    "finish_reason": result.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(result),
        }

    def chunks() -> Iterator[dict[str, Any]]:
        base = {"id": id_, "object": "completion.chunk", "created": created, "model": model}
        for piece in result.chunks():
            yield {**base, "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
        yield {
            **base,
            "usage": _usage(result),
            "choices": [{"index": 0, "text": "", "finish_reason": result.finish_reason}],
        }

    return _sse(chunks())
