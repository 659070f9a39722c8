"""Rows to tensors and the forward pass shared by SFT, DPO and evaluation.

A batch has no attention mask: ``position_ids`` restart at 0 for every example (and for the
padding), and transformers 5 turns that into a block-diagonal causal mask, so packed examples do not
see each other and right padding needs no mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from mock_server.training.data import TrainRow

__all__ = ["collate", "forward", "token_loss"]


def collate(rows: Sequence[TrainRow], pad_id: int, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Right-pad to the longest row. Labels are -100 off target. No attention mask: the position
    ids (restarting per example, and for the padding) give transformers a block-diagonal mask."""
    width = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r.input_ids)
        ids[i, :n] = torch.tensor(r.input_ids)
        labels[i, :n] = torch.where(torch.tensor(r.targets), ids[i, :n], -100)
        positions[i, :n] = torch.tensor(r.position_ids)
        positions[i, n:] = torch.arange(width - n)
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
    """Summed next-token cross-entropy over the target tokens, and their number."""
    b = collate(rows, pad_id, device)
    logits = forward(model, b)
    labels = b["labels"][:, 1:]
    loss = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), labels, ignore_index=-100, reduction="sum"
    )
    return loss, int((labels != -100).sum())
