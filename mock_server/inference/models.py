"""Synthetic completions: deterministic text with true token counts.

The same model, prompt and seed always give the same answer, so a test can assert on it; a
fine-tuned model answers differently from its base (its output name is part of the seed), which
is the smallest honest sign that "the model changed". Lengths and ``usage`` are counted with the
simulator's tokenizer (``tokens.py``), the same one that counts training files.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field

from mock_server.core.ids import stable_int
from mock_server.core.lazy_model import LazyModel
from mock_server.core.tokens import count_tokens, split_tokens

__all__ = [
    "ChatRequest",
    "Completion",
    "CompletionRequest",
    "Sampling",
    "chat_body",
    "chat_id",
    "complete",
    "prompt_text",
    "text_body",
    "text_id",
    "usage",
]


class Sampling(LazyModel):
    """What chat and text completions share. Fields the simulator does not act on (temperature,
    top_p ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    # The router checks the whole request against the spec first (a bool, a string or null is
    # no integer there). max_tokens 0 is valid (the SDKs' own generated tests send it): an empty
    # answer that stopped at its length.
    max_tokens: int | None = Field(default=None, ge=0)
    stream: bool = False
    seed: int | None = None
    stop: str | list[str] | None = None

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatRequest(Sampling):
    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py
    messages: list[dict[str, Any]] = Field(min_length=1)


class CompletionRequest(Sampling):
    model_config = ConfigDict(defer_build=False)  # a route's body: core/lazy_model.py
    prompt: str


_WORDS = (
    "the model answers with simulated text from together sim while the fine tuned adapter "
    "shapes its tone data flows through layers and every token is counted honestly so usage "
    "matches what you would pay for in a real run this reply is deterministic for a given "
    "prompt seed and model name"
).split()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"

    def chunks(self) -> Iterator[str]:
        """The text in pieces that concatenate back to it, for streaming."""
        start = 0
        for token in split_tokens(self.text):
            end = self.text.index(token, start) + len(token)
            yield self.text[start:end]
            start = end
        if start < len(self.text):
            yield self.text[start:]


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """The chat rendered as the model would see it (ChatML), for counting prompt tokens."""
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        parts.append(f"<|im_start|>{message.get('role', 'user')}\n{content or ''}<|im_end|>")
    return "\n".join(parts) + "\n<|im_start|>assistant\n"


def complete(
    model: str,
    prompt: str,
    *,
    max_tokens: int | None,
    seed: int | None,
    stop: list[str] | None = None,
) -> Completion:
    rng = random.Random(stable_int(model, prompt, seed))
    natural = rng.randint(12, 48)  # where this answer would end by itself
    limit = natural if max_tokens is None else min(natural, max_tokens)
    words: list[str] = []
    text = ""
    while True:
        word = rng.choice(_WORDS)
        candidate = (text + " " + word).strip()
        if count_tokens(candidate) + 1 > limit:  # +1: the closing full stop
            break
        words.append(word)
        text = candidate
    if text:
        text = text[:1].upper() + text[1:] + "."
    elif limit > 0:
        # A budget too small for a word and its full stop (max_tokens=1): a real model stops
        # mid-sentence rather than answer nothing, so the answer is the word's first tokens.
        text = "".join(split_tokens(word[:1].upper() + word[1:])[:limit])
    # Words join with spaces and a prefix of a word's tokens re-tokenizes to itself, so the
    # answer never exceeds its budget (tests/inference checks every word of the vocabulary).
    assert count_tokens(text) <= limit, (text, limit)
    for marker in stop or []:
        cut = text.find(marker) if marker else -1
        if cut >= 0:
            text = text[:cut]
    hit_limit = max_tokens is not None and max_tokens < natural
    return Completion(
        text=text,
        prompt_tokens=count_tokens(prompt),
        completion_tokens=count_tokens(text),
        finish_reason="length" if hit_limit else "stop",
    )


# -- response bodies: the live routes and batch output lines build them the same way ----------


def usage(c: Completion) -> dict[str, int]:
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
    }


def chat_id(model: str, prompt: str, seed: int | None, created: int) -> str:
    return f"chatcmpl-{stable_int(model, prompt, seed, created):016x}"


def text_id(model: str, prompt: str, seed: int | None, created: int) -> str:
    return f"cmpl-{stable_int(model, prompt, seed, created):016x}"


def chat_body(
    model: str, prompt: str, seed: int | None, created: int, result: Completion
) -> dict[str, Any]:
    """A ``ChatCompletionResponse`` for ``result``, answered as ``model`` at ``created``."""
    return {
        "id": chat_id(model, prompt, seed, created),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "prompt": [],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": result.finish_reason,
                # no "logprobs": the spec's is an object, not nullable, and none is computed
            }
        ],
        "usage": usage(result),
    }


def text_body(
    model: str, prompt: str, seed: int | None, created: int, result: Completion
) -> dict[str, Any]:
    """A ``CompletionResponse`` for ``result``, answered as ``model`` at ``created``."""
    return {
        "id": text_id(model, prompt, seed, created),
        "object": "text.completion",
        "created": created,
        "model": model,
        "prompt": [],
        "choices": [
            {
                "index": 0,
                "text": result.text,
                "finish_reason": result.finish_reason,
                # no "logprobs": the spec's is an object, not nullable, and none is computed
            }
        ],
        "usage": usage(result),
    }
