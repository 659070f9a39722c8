"""Direct preference optimisation, written out: sequence log-probabilities and the loss.

For a prompt x with a preferred completion y_w and a rejected one y_l, DPO pushes the policy's
log-ratio ``log pi(y_w|x) - log pi(y_l|x)`` above the reference model's:

    loss = -log sigmoid(beta * ((pi_w - pi_l) - (ref_w - ref_l)) - simpo_gamma)
           + rpo_alpha * NLL(y_w)

With LoRA the reference is the same model with the adapter disabled, so no second copy is held.
Together's knobs map as follows: ``dpo_normalize_logratios_by_length`` divides each sequence's
log-probability by its length; ``simpo_gamma > 0`` implies a reference-free, length-normalised loss
(SimPO: ``-log sigmoid(beta * (avg_w - avg_l) - gamma)``); ``rpo_alpha`` adds the mean token NLL of
the preferred completion (RPO). With a fresh adapter (lora_B = 0) the loss starts at log 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mock_server.training.batch import collate, forward
from mock_server.training.data import PreferenceExample, TrainRow

__all__ = [
    "DpoParams",
    "dpo_loss",
    "log_prob_margins",
    "pair_rows",
    "preference_loss",
    "sequence_logps",
]


@dataclass(frozen=True)
class DpoParams:
    beta: float = 0.1
    rpo_alpha: float = 0.0
    simpo_gamma: float = 0.0
    reference_free: bool = False
    normalize_by_length: bool = False

    @property
    def uses_reference(self) -> bool:
        return not (self.reference_free or self.simpo_gamma > 0)

    @property
    def length_normalised(self) -> bool:
        return self.normalize_by_length or self.simpo_gamma > 0


def pair_rows(pairs: Sequence[PreferenceExample]) -> list[TrainRow]:
    """All preferred sequences, then all rejected ones; the completion tokens are the targets."""

    def row(prompt: tuple[int, ...], completion: tuple[int, ...]) -> TrainRow:
        ids = prompt + completion
        targets = (False,) * len(prompt) + (True,) * len(completion)
        return TrainRow(ids, targets, tuple(range(len(ids))))

    return [row(p.prompt_ids, p.chosen_ids) for p in pairs] + [
        row(p.prompt_ids, p.rejected_ids) for p in pairs
    ]


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probability of the target tokens of each row, and how many there are.
    ``labels`` is -100 where a token is not a target, aligned with the input ids."""
    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    mask = labels != -100
    token_logps = -F.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
    return (token_logps * mask).sum(-1), mask.sum(-1)


def preference_loss(
    policy: torch.Tensor,
    reference: torch.Tensor | None,
    counts: torch.Tensor,
    params: DpoParams,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``policy``/``reference``: summed log-probs of ``pair_rows`` (preferred first). Returns the
    mean loss over pairs and the metrics TRL logs (rewards are beta times the log-ratio)."""
    n = policy.shape[0] // 2
    nll_w = -(policy[:n] / counts[:n])
    if params.length_normalised:
        policy = policy / counts
        reference = None if reference is None else reference / counts
    ref = torch.zeros_like(policy) if reference is None else reference
    reward = params.beta * (policy - ref).detach()
    logits = params.beta * ((policy[:n] - policy[n:]) - (ref[:n] - ref[n:])) - params.simpo_gamma
    losses = -F.logsigmoid(logits) + params.rpo_alpha * nll_w
    metrics = {
        "rewards/chosen": reward[:n].mean().item(),
        "rewards/rejected": reward[n:].mean().item(),
        "rewards/accuracies": (reward[:n] > reward[n:]).float().mean().item(),
        "rewards/margins": (reward[:n] - reward[n:]).mean().item(),
    }
    return losses.mean(), metrics


def dpo_loss(
    model: torch.nn.Module,
    reference: torch.nn.Module | None,
    pairs: Sequence[PreferenceExample],
    params: DpoParams,
    pad_id: int,
    device: str,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The DPO loss of a batch of pairs. The reference is ``reference`` when given (full
    fine-tuning keeps a frozen copy), else the policy with its adapter disabled."""
    b = collate(pair_rows(pairs), pad_id, device)
    policy, counts = sequence_logps(forward(model, b), b["labels"])
    ref = None
    if params.uses_reference:
        with torch.no_grad():
            if reference is not None:
                ref, _ = sequence_logps(forward(reference, b), b["labels"])
            else:
                with model.disable_adapter():  # type: ignore[operator]
                    ref, _ = sequence_logps(forward(model, b), b["labels"])
    return preference_loss(policy, ref, counts, params)


def log_prob_margins(
    model: torch.nn.Module, pairs: Sequence[PreferenceExample], pad_id: int, device: str = "cpu"
) -> list[float]:
    """``log p(preferred) - log p(rejected)`` per pair, summed over completion tokens."""
    b = collate(pair_rows(pairs), pad_id, device)
    with torch.no_grad():
        logps, _ = sequence_logps(forward(model, b), b["labels"])
    n = len(pairs)
    return (logps[:n] - logps[n:]).tolist()
