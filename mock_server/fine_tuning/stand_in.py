"""The small Llama whose tensors every synthetic archive holds, and its deterministic base weights.

Why a stand-in architecture: the catalogue models are 8B to 405B parameters, which would mean
gigabytes per download. The tensors therefore belong to a small :class:`StandIn` Llama with the same
layout (same tensor names, same shape relations, grouped-query attention) but hidden size 64, two
layers and a 512-token vocabulary. A full archive is well under 2 MB.

Values are float32, deterministic and independent of iteration order: each tensor gets its own
numpy ``Generator`` seeded by sha256 of a key (never Python's salted ``hash()``). Base weights use
``(base model name, tensor name)``; RMSNorm weights are ones, everything else ``normal * 0.02`` as
at Llama initialisation. ``archive.py`` draws the fine-tuned tensors the same way.

Apart from ``archive.py`` because the real trainer needs the target-module names too
(``resolve_target_modules``), and should not load the archive writer to get them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ALL_LINEAR_MODULES",
    "ATTENTION_MODULES",
    "F32",
    "INIT_STD",
    "MLP_MODULES",
    "STAND_IN",
    "StandIn",
    "base_tensor",
    "model_shapes",
    "module_path",
    "normal",
    "resolve_target_modules",
]

F32 = NDArray[np.float32]

ATTENTION_MODULES: Final = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES: Final = ("gate_proj", "up_proj", "down_proj")
#: What ``target_modules="all-linear"`` expands to, in the order peft users usually list them.
ALL_LINEAR_MODULES: Final = ATTENTION_MODULES + MLP_MODULES
INIT_STD: Final = 0.02


@dataclass(frozen=True)
class StandIn:
    """The small Llama whose tensors every archive holds, in place of the real base model's."""

    hidden_size: int = 64
    intermediate_size: int = 172
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    vocab_size: int = 512
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def linear_shape(self, module: str) -> tuple[int, int]:
        """``(out_features, in_features)`` of one linear module, as in ``nn.Linear.weight``."""
        h, kv = self.hidden_size, self.num_key_value_heads * self.head_dim
        shapes = {
            "q_proj": (self.num_attention_heads * self.head_dim, h),
            "k_proj": (kv, h),
            "v_proj": (kv, h),
            "o_proj": (h, self.num_attention_heads * self.head_dim),
            "gate_proj": (self.intermediate_size, h),
            "up_proj": (self.intermediate_size, h),
            "down_proj": (h, self.intermediate_size),
        }
        return shapes[module]


STAND_IN: Final = StandIn()


def resolve_target_modules(target_modules: str | list[str]) -> tuple[str, ...]:
    """Normalise Together's ``target_modules`` ("all-linear", "q_proj,v_proj" or a list).

    Returns the modules in :data:`ALL_LINEAR_MODULES` order; unknown names raise ValueError.
    """
    if isinstance(target_modules, str):
        if target_modules.strip() == "all-linear":
            return ALL_LINEAR_MODULES
        names = [n for n in re.split(r"[,\s]+", target_modules) if n]
    else:
        names = list(target_modules)
    if "all-linear" in names:
        return ALL_LINEAR_MODULES
    unknown = sorted(set(names) - set(ALL_LINEAR_MODULES))
    if unknown:
        raise ValueError(
            f"unknown target modules {unknown}; choose from {list(ALL_LINEAR_MODULES)}"
        )
    if not names:
        raise ValueError("target_modules is empty")
    return tuple(m for m in ALL_LINEAR_MODULES if m in names)


def _rng(*key: object) -> np.random.Generator:
    digest = hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))


def normal(shape: tuple[int, ...], std: float, *key: object) -> F32:
    """``normal * std``, drawn from a generator seeded by sha256 of ``key``, so the same key gives
    the same tensor in every process and in any order."""
    out = _rng(*key).standard_normal(shape, dtype=np.float32)
    out *= np.float32(std)
    return out


def module_path(layer: int, module: str) -> str:
    """The state-dict prefix of a linear module, as in ``LlamaForCausalLM``."""
    block = "self_attn" if module in ATTENTION_MODULES else "mlp"
    return f"model.layers.{layer}.{block}.{module}"


def model_shapes(si: StandIn) -> dict[str, tuple[int, ...]]:
    """Every tensor of the stand-in's full state dict, with its shape."""
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (si.vocab_size, si.hidden_size),
        "model.norm.weight": (si.hidden_size,),
    }
    if not si.tie_word_embeddings:
        shapes["lm_head.weight"] = (si.vocab_size, si.hidden_size)
    for i in range(si.num_hidden_layers):
        shapes[f"model.layers.{i}.input_layernorm.weight"] = (si.hidden_size,)
        shapes[f"model.layers.{i}.post_attention_layernorm.weight"] = (si.hidden_size,)
        for m in ALL_LINEAR_MODULES:
            shapes[f"{module_path(i, m)}.weight"] = si.linear_shape(m)
    return shapes


def base_tensor(base_model: str, name: str, stand_in: StandIn = STAND_IN) -> F32:
    """The stand-in base model's tensor ``name`` (a Llama state-dict key) for ``base_model``."""
    shape = model_shapes(stand_in)[name]
    if name.endswith("norm.weight"):
        return np.ones(shape, dtype=np.float32)
    return normal(shape, INIT_STD, "base", base_model, name)
