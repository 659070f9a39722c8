"""Downloading an RL checkpoint (``GET /rl/checkpoints/{id}/download``): the files of a saved
inference checkpoint, as signed URLs on this server.

Only inference checkpoints download, as the spec says (a training checkpoint is a 400 naming
``id``). The files are small and say what they are: ``adapter_model.safetensors`` (LoRA factors of
the session's rank, zeros) with ``adapter_config.json`` for the adapter variant,
``model.safetensors`` (zeros) with ``config.json`` for the merged one, each marked in its metadata
as the simulator's; ``CHECKPOINT_VARIANT_UNSPECIFIED`` (the spec's default) is the adapter. Valid
safetensors and JSON, so loaders get as far as reading them.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from typing import Any

from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Resources
from mock_server.families.rl.model import Saved, find_checkpoint
from mock_server.files.downloads import Download, signed_url

__all__ = ["DOWNLOADS", "OPERATIONS"]

_NOTE = "together-sim: a simulated checkpoint (zeros), not trained weights"
# The spec's enum, default included: an unspecified variant is the adapter, the LoRA weights the
# session trained (as an unspecified session type is the spec's usual one).
_VARIANTS = {
    "CHECKPOINT_VARIANT_UNSPECIFIED": "adapter",
    "CHECKPOINT_VARIANT_ADAPTER": "adapter",
    "CHECKPOINT_VARIANT_MERGED": "merged",
}
_WIDTH = 16  # the stand-in width of every tensor


def _safetensors(tensors: Mapping[str, tuple[int, ...]]) -> bytes:
    header: dict[str, Any] = {"__metadata__": {"format": "pt", "together_sim": _NOTE}}
    offset = 0
    for name, shape in tensors.items():
        size = 4 * math.prod(shape)
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def _files(saved: Saved, variant: str) -> dict[str, bytes]:
    base = saved.base_model
    if variant == "adapter":
        rank = int(saved.lora_config.get("rank", 8))
        prefix = "base_model.model.model.layers.0.self_attn.q_proj"
        config = {
            "peft_type": "LORA",
            "base_model_name_or_path": base,
            "r": rank,
            "lora_alpha": saved.lora_config.get("alpha", 16),
            "lora_dropout": saved.lora_config.get("dropout", 0.05),
            "target_modules": ["q_proj"],
            "together_sim": _NOTE,
        }
        weights = {
            f"{prefix}.lora_A.weight": (rank, _WIDTH),
            f"{prefix}.lora_B.weight": (_WIDTH, rank),
        }
        return {
            "adapter_model.safetensors": _safetensors(weights),
            "adapter_config.json": json.dumps(config, indent=2).encode(),
        }
    config = {"_name_or_path": base, "rl_step": saved.step, "together_sim": _NOTE}
    return {
        "model.safetensors": _safetensors({"model.embed_tokens.weight": (_WIDTH, _WIDTH)}),
        "config.json": json.dumps(config, indent=2).encode(),
    }


def _inference_checkpoint(resources: Resources, tenant: str, checkpoint_id: str) -> Saved:
    saved = find_checkpoint(resources, tenant, checkpoint_id)
    if saved is None:
        raise NotFound(
            "checkpoint", checkpoint_id, message=f"Checkpoint {checkpoint_id} not found", param="id"
        )
    if saved.kind != "inference-checkpoint":
        raise InvalidRequest(
            f"Checkpoint {checkpoint_id} is a training checkpoint: only inference checkpoints "
            "support downloading",
            param="id",
        )
    return saved


def download_checkpoint(resources: Resources, call: Call) -> Any:
    checkpoint_id = call.path["id"]
    saved = _inference_checkpoint(resources, call.tenant, checkpoint_id)
    variant = _VARIANTS[call.query["variant"]]  # the spec's enum, checked before the call
    ref = f"{checkpoint_id}.{variant}"
    return {
        "data": [
            {
                "filename": name,
                "url": signed_url(
                    resources.store, call.base_url, call.tenant, "rl-checkpoint", ref, name
                ),
                "size": str(len(data)),
            }
            for name, data in _files(saved, variant).items()
        ]
    }


def checkpoint_file(resources: Resources, tenant: str, ref: str, name: str) -> Download:
    checkpoint_id, _, variant = ref.rpartition(".")
    files = _files(_inference_checkpoint(resources, tenant, checkpoint_id), variant)
    if name not in files:
        raise NotFound("file", name, message=f"No file {name} in checkpoint {checkpoint_id}")
    media = "application/json" if name.endswith(".json") else "application/octet-stream"
    return Download(files[name], media)


OPERATIONS = [Operation("GET /rl/checkpoints/{id}/download", download_checkpoint)]
DOWNLOADS = {"rl-checkpoint": checkpoint_file}
