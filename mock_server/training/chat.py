"""Greedy chat on a trained result: the base from disk, with the job's adapter on top (or not).

The prompt is rendered by ``data.render_prompt`` in the base's chat format, the same text that
training saw (ChatML for the stand-ins and SmolLM2, the same as the tokenizer's chat template with
``add_generation_prompt``). Decoding is greedy, so the seed only matters for a model with
sampling-time randomness; it is set anyway. Loaded models are kept in a small cache keyed by their
directories: finished adapters never change on disk.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from peft import PeftModel
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerFast

from mock_server.training import data, models
from mock_server.training.chat_format import format_for

__all__ = ["Completion", "complete", "generate", "load_chat_model"]


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["stop", "length"]


@functools.lru_cache(maxsize=4)
def load_chat_model(
    model_dir: str, adapter_dir: str | None
) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    base, tokenizer = models.load_base(model_dir)
    model: PreTrainedModel | PeftModel = base
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(base, adapter_dir)
    return model.eval(), tokenizer


def generate(
    model_dir: Path | str,
    adapter_dir: Path | str | None,
    messages: Sequence[Mapping[str, Any]],
    max_new_tokens: int = 64,
    seed: int = 0,
    stop: Sequence[str] = (),
) -> Completion:
    """The next assistant turn of a chat."""
    adapter = None if adapter_dir is None else str(adapter_dir)
    _, tokenizer = load_chat_model(str(model_dir), adapter)
    prompt = data.render_prompt(messages, format_for(tokenizer))
    return complete(model_dir, adapter_dir, prompt, max_new_tokens, seed, stop)


def complete(
    model_dir: Path | str,
    adapter_dir: Path | str | None,
    text: str,
    max_new_tokens: int = 64,
    seed: int = 0,
    stop: Sequence[str] = (),
) -> Completion:
    """The continuation of a raw prompt. A ``stop`` string cuts the text before it; the token
    count is then that of the text kept."""
    model, tokenizer = load_chat_model(
        str(model_dir), None if adapter_dir is None else str(adapter_dir)
    )
    prompt = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    torch.manual_seed(seed)
    # A pretrained model may end a turn with a token other than its EOS (Llama 3's <|eot_id|>):
    # its generation config lists them.
    ends = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    extra = ends if isinstance(ends, list) else [ends]
    eos_ids = [i for i in dict.fromkeys([tokenizer.eos_token_id, *extra]) if i is not None]
    config = GenerationConfig(  # type: ignore[no-untyped-call]
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.no_grad():
        out = model.generate(**prompt, generation_config=config)  # type: ignore[operator]
    new = out[0, prompt["input_ids"].shape[1] :].tolist()
    stopped = bool(new) and new[-1] in eos_ids
    answer = str(tokenizer.decode(new[:-1] if stopped else new, skip_special_tokens=True))
    count = len(new)
    cuts = [answer.find(marker) for marker in stop if marker and marker in answer]
    if cuts:
        answer, stopped = answer[: min(cuts)], True
        count = len(tokenizer(answer, add_special_tokens=False)["input_ids"])
    return Completion(answer, prompt["input_ids"].shape[1], count, "stop" if stopped else "length")
