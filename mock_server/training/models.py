"""The base model of a real training run: a tiny Llama built from a config, or a pretrained one
from disk, and its tokenizer.

Nothing is downloaded. A tiny base is a ``LlamaForCausalLM`` with random weights from a fixed seed
(sizes measured in lora-and-semantics §2.1), and its tokenizer is a byte-level BPE trained on the
job's own training data in a few milliseconds (§2.3), with ChatML special tokens and a chat
template whose ``{% generation %}`` markers cover exactly the assistant text that ``data.py``
trains on. The base is saved next to the job (:func:`save_base`) so that the adapter can be
reloaded onto the very same weights later. Any other local Hugging Face directory (SmolLM2 once
:func:`convert_gguf` made one, a user's own model) loads through :func:`load_base`, with
``local_files_only``; a ChatML vocabulary gets that same masking template there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging

from mock_server.training.data import EOS, IM_START, PAD

__all__ = [
    "CHATML_TEMPLATE",
    "SIZES",
    "ModelSize",
    "build_model",
    "convert_gguf",
    "load_base",
    "pick_device",
    "save_base",
    "train_tokenizer",
]

# transformers draws tqdm bars on every save and load; a job's log has no use for them.
hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class ModelSize:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int


# Base parameters with the ~650-token BPE vocab of §2.1: micro 0.8 M (unit tests, ~6 s for 200
# steps on one thread), small 4.5 M (e2e default, ~18 s, learns the format of the answers).
SIZES: Final[dict[str, ModelSize]] = {
    "micro": ModelSize(128, 4, 4, 2, 344),
    "small": ModelSize(256, 6, 8, 4, 688),
}

CHATML_TEMPLATE: Final = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}{% generation %}"
    "{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- message['content'] + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    """Byte-level BPE on ``texts``. Every byte is in the initial alphabet, so any text encodes;
    small data yields fewer than ``vocab_size`` tokens (650 for 1,000 chat rows)."""
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tk, pad_token=PAD, eos_token=EOS, additional_special_tokens=[IM_START]
    )
    tok.chat_template = CHATML_TEMPLATE
    return tok


def build_model(
    size: str, tokenizer: PreTrainedTokenizerFast, *, seed: int = 0, max_positions: int = 512
) -> LlamaForCausalLM:
    s = SIZES[size]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden_size,
        num_hidden_layers=s.num_hidden_layers,
        num_attention_heads=s.num_attention_heads,
        num_key_value_heads=s.num_key_value_heads,
        intermediate_size=s.intermediate_size,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_base(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, path: Path) -> None:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def load_base(
    path: Path | str, *, device: str = "cpu", dtype: str = "float32"
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    tokenizer = cast(
        PreTrainedTokenizerFast, AutoTokenizer.from_pretrained(path, local_files_only=True)
    )
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
        path, local_files_only=True, dtype=getattr(torch, dtype)
    )
    model.to(device)  # type: ignore[arg-type]  # transformers types its wrapped .to() without self
    return model, _prepared(tokenizer)


def _prepared(tokenizer: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    """A pretrained tokenizer made fit to train: batches pad with EOS when it has no pad token
    (padding is never a target), and a ChatML vocabulary gets the masking template, which
    renders what ``data.py`` trains on (SmolLM2's own adds a default system prompt)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    vocab = tokenizer.get_vocab()
    if IM_START in vocab and EOS in vocab:
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def convert_gguf(gguf_file: Path, out: Path) -> None:
    """A GGUF checkpoint as a Hugging Face safetensors directory, de-quantized to float32 (needs
    the ``gguf`` package; SmolLM2-135M: ~20 s, 1.2 GB peak RSS, 517 MB written). transformers
    refuses to save a model it loaded from GGUF until the quantization marks are dropped."""
    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.hf_quantizer = None  # type: ignore[assignment]  # typed by nn.Module's __getattr__
    del model.config.quantization_config
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)


def pick_device(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    """``(device, dtype)`` as strings: CUDA in bfloat16 when there is a GPU that supports it, else
    the CPU in float32. Either can be forced."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
        dtype = "bfloat16" if bf16 else "float32"
    return device, dtype
