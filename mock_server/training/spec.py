"""What a training worker is told about its job: the training core's config, mapped from the job.

Pure and torch-free: the server writes a ``WorkerSpec`` as JSON next to the job's outputs and the
worker (``mock_server.training.worker``) reads it. Every hyper-parameter of the job is passed on,
with three decisions a user should know about:

* **The model.** A tiny Llama built from a config ("micro" by default, ``--real-model small`` for a
  larger one), with a byte-level BPE tokenizer trained on the job's own training file, stands in
  for whatever catalogue model the job names. Nothing is downloaded.
* **The learning rate** is multiplied by ``LR_SCALE`` (300) and capped at ``MAX_LR``: Together's
  default 1e-5 suits a pretrained 8B model, but moves a randomly initialised tiny one by nothing
  visible in a few dozen steps; 1e-5 becomes 3e-3, the rate the trainer's own tests use. The
  metrics report the rate that was really used, and an event says so.
* **Batch size and sequence length** are capped on the CPU (8 rows of at most 512 tokens) so a job
  sized for a GPU cluster finishes in seconds; the worker applies the caps once it knows its device
  (``fit_to_device``) and says so in an event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mock_server.jobs import Job

__all__ = [
    "LR_SCALE",
    "MAX_LR",
    "WorkerSpec",
    "fit_to_device",
    "spec_for",
]

LR_SCALE = 300.0
MAX_LR = 1e-2
# (batch rows, tokens per row) a device trains with at most
_CAPS = {"cpu": (8, 512), "cuda": (32, 2048)}


class WorkerSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    out_dir: str
    training_path: str
    training_file_type: str  # jsonl | parquet | csv
    validation_path: str | None = None
    config: dict[str, Any]  # TrainConfig keyword arguments
    notes: list[str] = []  # said as warning events when training starts


def spec_for(
    job: Job,
    *,
    out_dir: Path,
    training_path: Path,
    training_file_type: str,
    validation_path: Path | None,
    model: str = "micro",
) -> WorkerSpec:
    tt, method = job.training_type, job.training_method
    sched = job.lr_scheduler or {}
    args = sched.get("lr_scheduler_args") or {}
    lr = min(MAX_LR, job.learning_rate * LR_SCALE)
    notes = [
        f"learning_rate {job.learning_rate:g} is scaled by {LR_SCALE:g} to {lr:g} for the "
        f"randomly initialised '{model}' stand-in model"
    ]
    if job.from_checkpoint:
        notes.append(
            f"from_checkpoint {job.from_checkpoint} is not used by the real trainer: training "
            "starts from the stand-in base"
        )
    if job.from_hf_model:
        notes.append(f"from_hf_model {job.from_hf_model} is not loaded: the stand-in trains")
    config: dict[str, Any] = {
        "model": model,
        "base_model_name": job.model,
        "training_method": "dpo" if job.is_dpo else "sft",
        "train_on_inputs": "auto" if job.train_on_inputs is None else job.train_on_inputs,
        "full": not job.is_lora,
        "learning_rate": lr,
        "n_epochs": job.n_epochs,
        "batch_size": job.batch_size,
        "max_seq_length": job.max_seq_length,
        "packing": job.packing,
        "warmup_ratio": job.warmup_ratio,
        "lr_scheduler_type": "cosine" if sched.get("lr_scheduler_type") == "cosine" else "linear",
        "min_lr_ratio": float(args.get("min_lr_ratio", 0.0)),
        "num_cycles": float(args.get("num_cycles", 0.5)),
        "max_grad_norm": job.max_grad_norm,
        "weight_decay": job.weight_decay,
        "random_seed": job.seed,
        "n_checkpoints": job.n_checkpoints,
        "n_evals": job.n_evals if job.validation_file else 0,
        "save_merged": job.is_lora,
    }
    if job.is_lora:
        config |= {
            "lora_r": int(tt.get("lora_r", 8)),
            "lora_alpha": int(tt.get("lora_alpha", 2 * int(tt.get("lora_r", 8)))),
            "lora_dropout": float(tt.get("lora_dropout", 0.0)),
            "lora_trainable_modules": str(tt.get("lora_trainable_modules", "all-linear")),
        }
    if job.is_dpo:
        config |= {
            "dpo_beta": float(method.get("dpo_beta", 0.1)),
            "rpo_alpha": float(method.get("rpo_alpha", 0.0)),
            "simpo_gamma": float(method.get("simpo_gamma", 0.0)),
            "dpo_reference_free": bool(method.get("dpo_reference_free", False)),
            "dpo_normalize_logratios_by_length": bool(
                method.get("dpo_normalize_logratios_by_length", False)
            ),
        }
    return WorkerSpec(
        job_id=job.id,
        out_dir=str(out_dir),
        training_path=str(training_path),
        training_file_type=training_file_type,
        validation_path=None if validation_path is None else str(validation_path),
        config=config,
        notes=notes,
    )


def fit_to_device(config: dict[str, Any], device: str) -> tuple[dict[str, Any], list[str]]:
    """The config with batch size and sequence length capped for ``device``, and what changed."""
    max_batch, max_seq = _CAPS["cuda" if device.startswith("cuda") else "cpu"]
    fitted, notes = dict(config), []
    if fitted["batch_size"] > max_batch:
        notes.append(f"batch_size {fitted['batch_size']} is capped at {max_batch} on {device}")
        fitted["batch_size"] = max_batch
    if fitted["max_seq_length"] > max_seq:
        notes.append(
            f"max_seq_length {fitted['max_seq_length']} is capped at {max_seq} on {device}"
        )
        fitted["max_seq_length"] = max_seq
    return fitted, notes
