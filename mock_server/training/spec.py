"""What a training worker is told about its job: the training core's config, mapped from the job.

Pure and torch-free: the server writes a ``WorkerSpec`` as JSON next to the job's outputs and the
worker (``mock_server.training.worker``) reads it. Every hyper-parameter of the job is passed on,
with three decisions a user should know about:

* **The model.** The base is the job's ``from_hf_model``, else the server's model map entry for
  the job's model, else the ``--real-model`` stand-in (``bases.choose``): by default a tiny Llama
  built from a config ("micro"), with a byte-level BPE tokenizer trained on the job's own
  training file. Nothing is downloaded. An event names the base.
* **The learning rate** of a tiny stand-in (random weights) is multiplied by ``LR_SCALE`` (300)
  and capped at ``MAX_LR``: Together's default 1e-5 suits a pretrained 8B model, but moves a
  randomly initialised tiny one by nothing visible in a few dozen steps; 1e-5 becomes 3e-3, the
  rate the trainer's own tests use. A pretrained base trains at the job's rate as given. The
  metrics report the rate that was really used, and an event says so.
* **Batch size and sequence length** are capped on the CPU (8 rows of at most 512 tokens) so a job
  sized for a GPU cluster finishes in seconds; the worker applies the caps once it knows its device
  (``fit_to_device``) and says so in an event.

A ``from_checkpoint`` job whose parent trained for real starts from the parent's weights at that
step (``InitFrom``, chosen by ``checkpoint_weights``), on the parent's very base (same weights and
tokenizer). As on Together, the checkpoint defines the adapter: a LoRA child continues the parent's
adapter with its rank, alpha and modules whatever it asked for (a warning says so); a full child of
a LoRA parent trains the merged model; a LoRA child of a full parent puts a new adapter on the
parent's weights. A parent from the synthetic timeline saved no weights: the child starts from the
base, and a warning says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict

from mock_server.core.lazy_model import LazyModel
from mock_server.fine_tuning.events import Checkpoint
from mock_server.fine_tuning.models import Job
from mock_server.training.bases import BaseChoice, choose

__all__ = [
    "LR_SCALE",
    "MAX_LR",
    "TRAINER_STATE",
    "InitFrom",
    "WorkerSpec",
    "checkpoint_weights",
    "fit_to_device",
    "spec_for",
]

LR_SCALE = 300.0
MAX_LR = 1e-2
# (batch rows, tokens per row) a device trains with at most
_CAPS = {"cpu": (8, 512), "cuda": (32, 2048)}
TRAINER_STATE = "trainer_state.pt"  # in a checkpoint folder: what an exact resume needs


class InitFrom(LazyModel):
    """The weights a ``from_checkpoint`` job starts from: its parent's, at one step."""

    model_config = ConfigDict(frozen=True)

    checkpoint: str  # "ft-…:STEP", as the events name it
    weights: str  # the folder: a peft adapter, or a full model
    kind: Literal["adapter", "model"]
    base_dir: str  # the parent's base (weights and tokenizer): the child trains on it too
    base: BaseChoice  # what that base is
    training_type: dict[str, Any]  # the parent's: the shape of its adapter


class WorkerSpec(LazyModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    out_dir: str
    training_path: str
    training_file_type: str  # jsonl | parquet | csv
    validation_path: str | None = None
    config: dict[str, Any]  # TrainConfig keyword arguments
    notes: list[str] = []  # said as warning events when training starts
    base: BaseChoice = BaseChoice(ref="micro")  # what the worker trains on (bases.locate)
    models_dir: str | None = None  # where converted bases are kept; None: out_dir/models
    init_from: InitFrom | None = None  # from_checkpoint: the parent's weights to start from
    resume_from: str | None = None  # a checkpoint folder with TRAINER_STATE: go on exactly
    restarted: bool = False  # started again after a server restart
    phase: Literal["train", "package"] = "train"  # package: pack the final outputs again


def checkpoint_weights(
    parent: Job, step: int | None, checkpoints: Sequence[Checkpoint]
) -> Checkpoint | None:
    """The parent's saved weights that ``from_checkpoint`` names: its final adapter (LoRA) or
    model (full) without a step, else those saved at the step."""
    kind = "adapter" if parent.is_lora else "model"
    for c in checkpoints:
        at = c.step == step if step is not None else c.checkpoint_type != "Intermediate"
        if c.kind == kind and at:
            return c
    return None


def spec_for(
    job: Job,
    *,
    out_dir: Path,
    training_path: Path,
    training_file_type: str,
    validation_path: Path | None,
    model: str = "micro",
    model_map: Mapping[str, BaseChoice] | None = None,
    models_dir: Path | None = None,
    init: InitFrom | None = None,
) -> WorkerSpec:
    tt, method = job.training_type, job.training_method
    sched = job.lr_scheduler or {}
    args = sched.get("lr_scheduler_args") or {}
    base = choose(
        job.model,
        from_hf_model=job.from_hf_model,
        hf_model_revision=job.hf_model_revision,
        model_map=model_map,
        stand_in=model,
    )
    if init is not None:  # a from_checkpoint job trains on its parent's base
        base = init.base
    if base.is_tiny:
        lr = min(MAX_LR, job.learning_rate * LR_SCALE)
        notes = [
            f"learning_rate {job.learning_rate:g} is scaled by {LR_SCALE:g} to {lr:g} for the "
            f"randomly initialised '{base.ref}' stand-in model"
        ]
    else:
        lr = job.learning_rate
        notes = [f"{job.model} trains as {base.describe()}; learning_rate {lr:g} is used as given"]
    if init is not None:
        notes += _init_notes(job, init)
    elif job.from_checkpoint:
        notes.append(
            f"from_checkpoint {job.from_checkpoint} was trained by the synthetic timeline, which "
            "saves no weights: training starts from the base"
        )
    config: dict[str, Any] = {
        "model": base.ref,  # the worker puts the located directory of a pretrained base here
        "base_model_name": job.from_hf_model or job.model,
        "base_description": base.describe(),
        "job_id": job.id,
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
        base=base,
        models_dir=None if models_dir is None else str(models_dir),
        init_from=init,
    )


def _adapter_shape(training_type: Mapping[str, Any]) -> tuple[int, int, str]:
    r = int(training_type.get("lora_r", 8))
    alpha = int(training_type.get("lora_alpha", 2 * r))
    return r, alpha, str(training_type.get("lora_trainable_modules", "all-linear"))


def _init_notes(job: Job, init: InitFrom) -> list[str]:
    """What a from_checkpoint job does differently from what it asked for, because the
    checkpoint defines the model it starts from."""
    if init.kind == "model":
        if job.is_lora:
            return [f"a new LoRA adapter trains on the full fine-tune {init.checkpoint}"]
        return []
    if not job.is_lora:
        return [f"the adapter of {init.checkpoint} is merged into its base for full fine-tuning"]
    asked, saved = _adapter_shape(job.training_type), _adapter_shape(init.training_type)
    if asked == saved:
        return []
    return [
        f"the adapter of {init.checkpoint} (lora_r {saved[0]}, lora_alpha {saved[1]}, modules "
        f"{saved[2]}) trains on: a checkpoint defines its adapter, so the asked lora_r "
        f"{asked[0]}, lora_alpha {asked[1]}, modules {asked[2]} are not used"
    ]


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
