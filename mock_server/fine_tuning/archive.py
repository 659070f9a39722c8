"""Downloadable output of a simulated fine-tuning job: a real ``tar.zst`` of real safetensors.

``GET /v1/finetune/download?ft_id=..&checkpoint=adapter|merged|model_output_path`` hands back what
Together hands back: a zstandard-compressed tar with flat members (``packing.py``). The clients
save the bytes as they come, so what matters is that the file is a genuine archive whose contents a
user (or peft / transformers) can open:

* ``adapter`` (LoRA jobs, ``checkpoint=adapter``): ``README.md``, ``adapter_config.json`` (a peft
  ``LoraConfig``) and ``adapter_model.safetensors`` with tensors named as peft saves them,
  ``base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`` ``[r, in]`` and
  ``...lora_B.weight`` ``[out, r]`` for each target module of each layer.
* ``merged`` (LoRA jobs, ``checkpoint=merged``) and ``full`` (Full jobs,
  ``checkpoint=model_output_path``): ``README.md``, ``config.json`` (a ``LlamaConfig``),
  ``generation_config.json`` and ``model.safetensors`` holding a full Llama state dict.

The tensors belong to the small stand-in Llama of ``stand_in.py``, which also draws the base
weights. What comes from the job is kept: the LoRA rank ``r`` and ``lora_alpha`` shape and scale
the adapter, the target modules pick which tensors exist, and the real base model name goes into
``base_model_name_or_path`` and into a ``together_sim`` block of the JSON configs. The fine-tuned
tensors are drawn like the base ones, from a sha256-seeded generator per tensor:

* LoRA factors: ``(job seed, job id, step, tensor name)``. Both factors are ``normal * 0.02``,
  so ``lora_B`` is not zero (a trained adapter's is not). ``adapter`` and ``merged`` archives of the
  same job and step share the factors on purpose, so that the merged model really is
  ``base + (lora_alpha / r) * B @ A`` for every targeted module, and the other modules are the base;
* full fine-tuning: ``base + normal * 0.002`` from ``(job seed, job id, step, tensor name)``.

The safetensors files are written by the ``safetensors`` library, imported on the first download
(a server that hands out no archive never loads it). A member is built whole in memory before the
tar streams it into the zstd compressor: the stand-in keeps the largest under 2 MB. Members are
sorted and the tar is deterministic, so identical specs give byte-identical archives; callers cache
them under :func:`archive_name`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO, Final, Literal

import numpy as np

from mock_server.fine_tuning.packing import tar_zst, tarinfo, write_atomically
from mock_server.fine_tuning.stand_in import (
    F32,
    INIT_STD,
    STAND_IN,
    base_tensor,
    model_shapes,
    module_path,
    normal,
    resolve_target_modules,
)

__all__ = ["ArtifactSpec", "archive_name", "build_archive"]

ArtifactKind = Literal["adapter", "merged", "full"]

#: Bump when the archive contents change, so cached archives under old names are not reused.
FORMAT_VERSION: Final = 1

_KINDS: Final = ("adapter", "merged", "full")
_FULL_DELTA_STD: Final = 0.002
_TRANSFORMERS_VERSION: Final = "4.45.0"
_BOS_ID: Final = 1
_EOS_ID: Final = 2


@dataclass(frozen=True)
class ArtifactSpec:
    """Everything that determines an archive's bytes.

    ``kind`` "full" ignores the LoRA fields (they still enter :func:`archive_name`). ``step`` None
    means the final model.
    """

    kind: ArtifactKind
    base_model: str
    job_id: str
    step: int | None
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: str | list[str]
    seed: int

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {list(_KINDS)}, not {self.kind!r}")
        if self.step is not None and self.step < 0:
            raise ValueError("step must be >= 0")
        if self.kind != "full":
            if self.lora_r < 1:
                raise ValueError("lora_r must be >= 1")
            if self.lora_alpha <= 0:
                raise ValueError("lora_alpha must be > 0")
            if not 0.0 <= self.lora_dropout <= 1.0:
                raise ValueError("lora_dropout must be in [0, 1]")
            resolve_target_modules(self.target_modules)


def archive_name(spec: ArtifactSpec) -> str:
    """A file-system-safe cache name that changes whenever any spec field does."""
    payload = {
        "format": FORMAT_VERSION,
        "stand_in": asdict(STAND_IN),
        "spec": asdict(spec),
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
    job = re.sub(r"[^A-Za-z0-9.-]+", "-", spec.job_id).strip("-.")[:64] or "job"
    step = "final" if spec.step is None else f"step{spec.step}"
    return f"{spec.kind}-{job}-{step}-{digest}.tar.zst"


# --------------------------------------------------------------------------------------------------
# the fine-tuned tensors


def _lora_factor(spec: ArtifactSpec, path: str, which: Literal["A", "B"]) -> F32:
    out_f, in_f = STAND_IN.linear_shape(path.rsplit(".", 1)[1])
    shape = (spec.lora_r, in_f) if which == "A" else (out_f, spec.lora_r)
    step = "final" if spec.step is None else spec.step
    return normal(shape, INIT_STD, "lora", spec.seed, spec.job_id, step, path, which)


@dataclass(frozen=True)
class _Plan:
    name: str
    shape: tuple[int, ...]
    make: Callable[[], F32]


def _adapter_plan(spec: ArtifactSpec) -> list[_Plan]:
    plans = []
    for i in range(STAND_IN.num_hidden_layers):
        for m in resolve_target_modules(spec.target_modules):
            path = module_path(i, m)
            out_f, in_f = STAND_IN.linear_shape(m)
            factors: tuple[tuple[Literal["A", "B"], tuple[int, int]], ...] = (
                ("A", (spec.lora_r, in_f)),
                ("B", (out_f, spec.lora_r)),
            )
            for which, shape in factors:
                name = f"base_model.model.{path}.lora_{which}.weight"
                plans.append(_Plan(name, shape, partial(_lora_factor, spec, path, which)))
    return plans


def _model_plan(spec: ArtifactSpec) -> list[_Plan]:
    targets = (
        {
            module_path(i, m) + ".weight"
            for i in range(STAND_IN.num_hidden_layers)
            for m in resolve_target_modules(spec.target_modules)
        }
        if spec.kind == "merged"
        else set()
    )
    scale = np.float32(spec.lora_alpha / spec.lora_r) if spec.kind == "merged" else np.float32(0)
    step = "final" if spec.step is None else spec.step

    def make(name: str, shape: tuple[int, ...]) -> F32:
        w = base_tensor(spec.base_model, name)
        if spec.kind == "full":
            w += normal(shape, _FULL_DELTA_STD, "full", spec.seed, spec.job_id, step, name)
        elif name in targets:
            path = name.removesuffix(".weight")
            a, b = _lora_factor(spec, path, "A"), _lora_factor(spec, path, "B")
            w += scale * (b @ a)
        return w

    return [
        _Plan(name, shape, partial(make, name, shape))
        for name, shape in model_shapes(STAND_IN).items()
    ]


# --------------------------------------------------------------------------------------------------
# safetensors


def _safetensors(plans: list[_Plan]) -> bytes:
    """The planned tensors as one safetensors file, written by the ``safetensors`` library (the
    format's reference writer: header layout, alignment and dtype names are its business)."""
    from safetensors.numpy import save  # first download only: the server starts without it

    tensors: dict[str, F32] = {}
    for p in plans:
        arr = p.make()
        if arr.shape != p.shape or arr.dtype != np.float32:
            raise RuntimeError(f"tensor {p.name} came out {arr.dtype}{arr.shape}, not {p.shape}")
        tensors[p.name] = arr
    data: bytes = save(tensors, metadata={"format": "pt"})
    return data


# --------------------------------------------------------------------------------------------------
# the archive


def _json_bytes(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _provenance(spec: ArtifactSpec) -> dict[str, object]:
    return {
        "generator": "together-sim",
        "synthetic": True,
        "base_model": spec.base_model,
        "job_id": spec.job_id,
        "step": spec.step,
        "kind": spec.kind,
        "stand_in_architecture": asdict(STAND_IN),
        "format_version": FORMAT_VERSION,
    }


def _adapter_config(spec: ArtifactSpec) -> dict[str, object]:
    return {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": spec.base_model,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layer_replication": None,
        "layers_pattern": None,
        "layers_to_transform": None,
        "loftq_config": {},
        "lora_alpha": spec.lora_alpha,
        "lora_dropout": spec.lora_dropout,
        "megatron_config": None,
        "megatron_core": "megatron.core",
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": spec.lora_r,
        "rank_pattern": {},
        "revision": None,
        "target_modules": list(resolve_target_modules(spec.target_modules)),
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": False,
        "together_sim": _provenance(spec),
    }


def _model_config(spec: ArtifactSpec) -> dict[str, object]:
    si = STAND_IN
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": _BOS_ID,
        "eos_token_id": _EOS_ID,
        "head_dim": si.head_dim,
        "hidden_act": "silu",
        "hidden_size": si.hidden_size,
        "initializer_range": INIT_STD,
        "intermediate_size": si.intermediate_size,
        "max_position_embeddings": si.max_position_embeddings,
        "mlp_bias": False,
        "num_attention_heads": si.num_attention_heads,
        "num_hidden_layers": si.num_hidden_layers,
        "num_key_value_heads": si.num_key_value_heads,
        "pretraining_tp": 1,
        "rms_norm_eps": si.rms_norm_eps,
        "rope_scaling": None,
        "rope_theta": si.rope_theta,
        "tie_word_embeddings": si.tie_word_embeddings,
        "torch_dtype": "float32",
        "transformers_version": _TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": si.vocab_size,
        "together_sim": _provenance(spec),
    }


def _readme(spec: ArtifactSpec) -> bytes:
    si = STAND_IN
    what = {
        "adapter": f"a LoRA adapter (r={spec.lora_r}, lora_alpha={spec.lora_alpha}, target modules "
        f"{', '.join(resolve_target_modules(spec.target_modules))})",
        "merged": f"a model with a LoRA adapter (r={spec.lora_r}, lora_alpha={spec.lora_alpha}) "
        "merged into the base weights",
        "full": "a fully fine-tuned model",
    }[spec.kind]
    step = "final" if spec.step is None else f"step {spec.step}"
    return (
        f"# Synthetic {spec.kind} checkpoint from together-sim\n\n"
        f"This archive was produced by together-sim, an offline simulator of the Together AI "
        f"fine-tuning API. It holds {what} for job `{spec.job_id}` ({step}), fine-tuned from "
        f"`{spec.base_model}`.\n\n"
        "The weights are deterministic pseudo-random numbers, not the result of training. So that "
        "downloads stay small, the tensors belong to a small stand-in Llama architecture "
        f"(hidden {si.hidden_size}, intermediate {si.intermediate_size}, "
        f"{si.num_hidden_layers} layers, {si.num_attention_heads} heads, "
        f"{si.num_key_value_heads} KV heads, vocab {si.vocab_size}) with the same tensor names "
        "and layout as the real model. The files are valid safetensors and JSON configs.\n"
    ).encode()


def _members(spec: ArtifactSpec) -> dict[str, bytes]:
    members: dict[str, bytes] = {"README.md": _readme(spec)}
    if spec.kind == "adapter":
        members["adapter_config.json"] = _json_bytes(_adapter_config(spec))
        members["adapter_model.safetensors"] = _safetensors(_adapter_plan(spec))
    else:
        members["config.json"] = _json_bytes(_model_config(spec))
        members["generation_config.json"] = _json_bytes(
            {
                "_from_model_config": True,
                "bos_token_id": _BOS_ID,
                "eos_token_id": _EOS_ID,
                "transformers_version": _TRANSFORMERS_VERSION,
            }
        )
        members["model.safetensors"] = _safetensors(_model_plan(spec))
    return members


def _write_archive(spec: ArtifactSpec, fh: BinaryIO) -> None:
    with tar_zst(fh) as tf:
        for name, content in sorted(_members(spec).items()):
            tf.addfile(tarinfo(name, len(content)), io.BytesIO(content))


def build_archive(spec: ArtifactSpec, dest: Path) -> int:
    """Write the archive for ``spec`` to ``dest`` atomically and return its size in bytes."""
    return write_atomically(dest, partial(_write_archive, spec))
