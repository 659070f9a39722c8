"""Rows to tensors and the forward pass shared by SFT, DPO and evaluation.

A batch has no attention mask: ``position_ids`` restart at 0 for every example, and transformers 5
turns that into a block-diagonal causal mask, so packed examples do not see each other. The right
padding continues the positions of its row's last example: no real token attends to it (it comes
after them), and a batch of unpacked rows then has plain ``0..n`` positions, which transformers
runs as ordinary causal attention (SDPA's ``is_causal``) without building a mask at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from mock_server.training.data import TrainRow

__all__ = ["collate", "forward", "token_loss"]


def collate(rows: Sequence[TrainRow], pad_id: int, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Right-pad to the longest row. Labels are -100 off target. No attention mask: the position
    ids (restarting per example) give transformers a block-diagonal mask where rows are packed."""
    width = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r.input_ids)
        ids[i, :n] = torch.tensor(r.input_ids)
        labels[i, :n] = torch.where(torch.tensor(r.targets), ids[i, :n], -100)
        positions[i, :n] = torch.tensor(r.position_ids)
        last = r.position_ids[-1] + 1 if n else 0
        positions[i, n:] = torch.arange(last, last + width - n)
    return {
        "input_ids": ids.to(device),
        "labels": labels.to(device),
        "position_ids": positions.to(device),
    }


def forward(model: torch.nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Logits of a collated batch. ``use_cache=False`` matters: with a cache, transformers skips
    the packed-sequence check and every token would attend across example boundaries."""
    out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False)
    return out.logits  # type: ignore[no-any-return]


def token_loss(
    model: torch.nn.Module, rows: Sequence[TrainRow], pad_id: int, device: str
) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over the target tokens, and their number.

    Three exact savings, since attention is causal and only the positions that predict a target
    are scored: each row stops at its last target token (what follows changes no scored logit: in
    chat rows, the newline after ``<|im_end|>``); the last decoder layer's MLP, which works token by
    token and feeds nothing but the LM head, runs only at the scored positions; and the LM head
    runs only at the positions where some row of the batch is scored (``logits_to_keep``), not
    over the prompts. The loss and its gradients are those of the full forward pass.
    """
    b = collate([_through_last_target(r) for r in rows], pad_id, device)
    labels = b["labels"][:, 1:]
    scored = (labels != -100).any(0).nonzero().squeeze(1)
    if not scored.numel():  # nothing is scored: the full pass gives a zero loss, as it always did
        return _full_loss(model, b)
    with _last_mlp_only_at(model, labels != -100):
        out = model(
            input_ids=b["input_ids"][:, :-1],
            position_ids=b["position_ids"][:, :-1],
            use_cache=False,
            logits_to_keep=scored,
        )
    labels = labels[:, scored]
    loss = F.cross_entropy(
        out.logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100, reduction="sum"
    )
    return loss, int((labels != -100).sum())


def _full_loss(model: torch.nn.Module, b: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    labels = b["labels"][:, 1:]
    logits = forward(model, b)[:, :-1]
    loss = F.cross_entropy(
        logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100, reduction="sum"
    )
    return loss, int((labels != -100).sum())


def _last_mlp(model: torch.nn.Module) -> torch.nn.Module | None:
    """The last decoder layer's MLP, when it is the gated per-token kind (Llama, Qwen, Mistral,
    SmolLM2...); None for any other architecture, which then runs in full."""
    unwrap: Any = getattr(model, "get_base_model", None)  # a peft model's base
    base: Any = unwrap() if unwrap is not None else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    mlp = getattr(layers[-1], "mlp", None) if layers else None
    per_token = all(hasattr(mlp, name) for name in ("gate_proj", "up_proj", "down_proj"))
    return mlp if isinstance(mlp, torch.nn.Module) and per_token else None


@contextmanager
def _last_mlp_only_at(model: torch.nn.Module, where: torch.Tensor) -> Iterator[None]:
    """While in the block, the last MLP sees only the tokens ``where`` (batch × position) marks
    and returns zeros elsewhere. Nothing after the last layer mixes positions (the final norm and
    the LM head work token by token), so only unscored positions change, and they score nothing."""
    mlp = _last_mlp(model)
    if mlp is None:
        yield
        return
    picked = where.flatten().nonzero().squeeze(1)

    def gather(_: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return (args[0].flatten(0, 1)[picked].unsqueeze(0), *args[1:])

    def scatter(_: torch.nn.Module, __: Any, out: torch.Tensor) -> torch.Tensor:
        full = out.new_zeros((where.numel(), out.shape[-1]))
        return full.index_copy(0, picked, out.squeeze(0)).view(*where.shape, out.shape[-1])

    handles = [mlp.register_forward_pre_hook(gather), mlp.register_forward_hook(scatter)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _through_last_target(row: TrainRow) -> TrainRow:
    """The row up to its last target token (a row without one stays whole)."""
    end = 1 + max((i for i, t in enumerate(row.targets) if t), default=len(row.targets) - 1)
    if end == len(row.input_ids):
        return row
    return TrainRow(row.input_ids[:end], row.targets[:end], row.position_ids[:end])
