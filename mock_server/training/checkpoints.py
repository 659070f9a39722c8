"""Checkpoints a run can be resumed from, and the weights a download serves.

A checkpoint folder holds the adapter as peft writes it (``adapter_model.safetensors`` and
``adapter_config.json``; the whole model for full fine-tuning) and ``trainer_state.pt``: the
trainable tensors, AdamW's moments, the scheduler's position, the torch RNG state and the losses so
far. Restoring all of it, and recomputing the batch order from the seed, makes a resumed run repeat
the uninterrupted run's losses exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch

__all__ = ["load_state", "save_state", "save_weights"]

Module = torch.nn.Module


def save_weights(model: Module, path: Path, base_model_name: str) -> None:
    """The adapter as peft writes it (or the full model): what a download serves. peft looks up
    ``base_model_name_or_path`` while saving, on the hub if it is not a local directory, so the
    save names the local base and the user-facing name is written into the config afterwards."""
    model.save_pretrained(path)  # type: ignore[operator]
    config = path / "adapter_config.json"
    if base_model_name and config.exists():
        fields = json.loads(config.read_text())
        local, fields["base_model_name_or_path"] = (
            fields["base_model_name_or_path"],
            base_model_name,
        )
        config.write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
        card = path / "README.md"  # peft's model card names the base too
        if local and card.exists():
            card.write_text(card.read_text().replace(local, base_model_name))


def save_state(
    path: Path,
    model: Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    total: int,
    losses: Iterable[float],
) -> None:
    """Everything a resume needs: the trainable tensors, optimizer and scheduler state, the RNG
    state and the losses so far (next to the weights that ``save_weights`` wrote)."""
    state = {
        "step": step,
        "total_steps": total,
        "trainable": {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "losses": list(losses),
    }
    torch.save(state, path / "trainer_state.pt")


def load_state(
    path: Path,
    model: Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    total: int,
) -> tuple[int, list[float]]:
    state = torch.load(path / "trainer_state.pt", weights_only=True)
    if state["total_steps"] != total:
        raise ValueError(f"checkpoint is from a {state['total_steps']}-step run, not {total}")
    unexpected = model.load_state_dict(state["trainable"], strict=False).unexpected_keys
    if unexpected:
        raise ValueError(f"checkpoint does not fit this model: {unexpected[:3]}")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"]:
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), [float(x) for x in state["losses"]]
