"""Checkpoints a run can be resumed from or started from, and the weights a download serves.

A checkpoint folder holds the adapter as peft writes it (``adapter_model.safetensors`` and
``adapter_config.json``; the whole model for full fine-tuning) and ``trainer_state.pt``: the
trainable tensors, AdamW's moments, the scheduler's position, the torch RNG state and the losses so
far. Restoring all of it, and recomputing the batch order from the seed, makes a resumed run repeat
the uninterrupted run's losses exactly (``load_state``). Another run that starts from the folder
(Together's ``from_checkpoint``) takes only the weights (``continued_adapter``, ``merged``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel

__all__ = ["continued_adapter", "load_state", "merged", "save_state", "save_weights"]

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


def continued_adapter(base: Module, path: Path, dropout: float) -> Module:
    """``base`` with the saved adapter at ``path``, trainable. The saved config defines the
    adapter's shape (rank, alpha, target modules); the dropout is the new run's. The config names
    the local base again, as ``save_weights`` needs for the next save."""
    config = LoraConfig.from_pretrained(str(path))
    config.lora_dropout = dropout
    config.base_model_name_or_path = str(getattr(base, "name_or_path", "") or "") or None
    return PeftModel.from_pretrained(base, path, config=config, is_trainable=True)


def merged(base: Module, path: Path) -> Module:
    """``base`` with the saved adapter at ``path`` merged in, every weight trainable."""
    adapted = PeftModel.from_pretrained(base, path)
    return adapted.merge_and_unload().requires_grad_(True)  # type: ignore[no-any-return]
