"""What one training run is asked to do: ``TrainConfig``, frozen and checked before torch works.

Kept apart from the loop (``lora.py``) so that the defaults, their bounds and the derived objects
(the server's learning-rate ``Schedule``, the DPO parameters) read as one table, and so that the
worker can space its evaluations with the very ``spread`` the loop uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mock_server.fine_tuning.lr_schedule import Schedule
from mock_server.training import data, dpo

__all__ = ["TrainConfig", "spread"]


@dataclass(frozen=True)
class TrainConfig:
    # model: a tiny size built from a config ("micro", "small"), or a local Hugging Face directory
    model: str = "micro"
    base_model_name: str = ""  # the Together model the base stands in for (the adapter's README)
    base_description: str = ""  # what the base is and what chose it (the adapter's README)
    job_id: str = ""  # the job trained (the adapter's README: where its base is served)
    vocab_size: int = 1024  # BPE vocabulary asked for when a tiny model's tokenizer is trained
    training_method: Literal["sft", "dpo"] = "sft"
    train_on_inputs: data.TrainOnInputs = "auto"  # Together's SDK default for SFT
    full: bool = False  # full fine-tuning instead of LoRA
    # LoRA (Together: r defaults to the model's max rank, alpha to 2 * r, dropout 0, all-linear)
    lora_r: int = 8
    lora_alpha: int | None = None  # None: 2 * lora_r
    lora_dropout: float = 0.0
    lora_trainable_modules: str | tuple[str, ...] = "all-linear"
    # optimisation; Together's default lr is 1e-5, far too small for a randomly initialised base
    learning_rate: float = 1e-3
    n_epochs: int = 1
    max_steps: int | None = None  # overrides n_epochs * steps_per_epoch when set
    batch_size: int = 8
    max_seq_length: int = 128
    packing: bool = True  # Together packs JSONL samples into max_seq_length rows (SFT only)
    warmup_ratio: float = 0.0
    lr_scheduler_type: Literal["linear", "cosine"] = "cosine"
    min_lr_ratio: float = 0.0
    num_cycles: float = 0.5  # cosine only
    max_grad_norm: float = 1.0  # 0 disables clipping
    weight_decay: float = 0.0  # AdamW, on 2-D weights only (nanoGPT's rule)
    random_seed: int = 0  # adapter init, data order and dropout; the tiny base always uses 0
    n_checkpoints: int = 1  # the last one is the final save
    n_evals: int = 0  # needs eval rows
    # DPO (Together: beta 0.1; simpo_gamma > 0 implies reference-free, length-normalised)
    dpo_beta: float = 0.1
    rpo_alpha: float = 0.0
    simpo_gamma: float = 0.0
    dpo_reference_free: bool = False
    dpo_normalize_logratios_by_length: bool = False
    save_merged: bool = False  # also write base + adapter merged (merge_and_unload)
    device: str | None = None  # None: cuda when present, else cpu
    dtype: str | None = None  # None: bfloat16 on cuda, float32 on cpu

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_seq_length < 2 or self.n_epochs < 1:
            raise ValueError("batch_size, n_epochs must be >= 1 and max_seq_length >= 2")
        if not 0 <= self.warmup_ratio <= 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("warmup_ratio and min_lr_ratio must be between 0 and 1")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError("LoRA dropout must be in [0, 1) range.")
        if self.max_grad_norm < 0 or self.weight_decay < 0:
            raise ValueError("max_grad_norm and weight_decay must be non-negative")

    def schedule(self, total_steps: int) -> Schedule:
        return Schedule(
            peak=self.learning_rate,
            total_steps=total_steps,
            warmup_ratio=self.warmup_ratio,
            kind=self.lr_scheduler_type,
            min_lr_ratio=self.min_lr_ratio,
            num_cycles=self.num_cycles,
        )

    def dpo_params(self) -> dpo.DpoParams:
        return dpo.DpoParams(
            beta=self.dpo_beta,
            rpo_alpha=self.rpo_alpha,
            simpo_gamma=self.simpo_gamma,
            reference_free=self.dpo_reference_free,
            normalize_by_length=self.dpo_normalize_logratios_by_length,
        )


def spread(count: int, total: int) -> list[int]:
    """``count`` steps spread evenly over ``1..total``, the last at ``total``: the spacing of
    ``mock_server.fine_tuning.plan``, so a real job checkpoints where a simulated one would."""
    if count <= 0 or total <= 0:
        return []
    return sorted({max(1, round(k * total / count)) for k in range(1, count + 1)})
