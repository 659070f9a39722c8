"""Creating fine-tuning jobs: the request as the clients send it, checked as the service checks it.

``FineTuneRequest`` accepts both generations' bodies (3.x sends ``training_method`` and
``training_type`` objects, 1.5.x a flat body with ``validation_file: ""``). ``resolve`` turns a
request into a ``Job`` or raises ``InvalidRequest`` naming the offending field, with the messages
the SDKs use for the same rule, so a user sees the same words whichever side catches the mistake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mock_server import catalogue
from mock_server.catalogue import ModelEntry
from mock_server.errors import InvalidRequest, NotFound
from mock_server.events import Event, EventType
from mock_server.files import FilePurpose, FileRecord
from mock_server.jobs import Job, JobStatus, Timeline
from mock_server.timefmt import iso

__all__ = ["CheckpointRef", "FineTuneRequest", "PriceRequest", "resolve", "split_checkpoint_ref"]

TrainOnInputs = bool | Literal["auto"]


class _Open(BaseModel):
    # Unknown keys are ignored, as the service does: newer clients send fields (such as
    # ``early_stopping_enabled``) that an older spec does not list.
    model_config = ConfigDict(extra="allow")


class FineTuneRequest(_Open):
    training_file: str
    validation_file: str | None = None
    model: str | None = None
    n_epochs: int = 1
    n_checkpoints: int = 1
    n_evals: int = 0
    batch_size: int | Literal["max"] = "max"
    learning_rate: float = 1e-5
    lr_scheduler: dict[str, Any] | None = None
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    random_seed: int | None = None
    suffix: str | None = Field(default=None, max_length=64)
    packing: bool = True
    max_seq_length: int | None = None
    train_on_inputs: TrainOnInputs | None = None
    training_method: dict[str, Any] | None = None
    training_type: dict[str, Any] | None = None
    multimodal_params: dict[str, Any] | None = None
    from_checkpoint: str | None = None
    from_hf_model: str | None = None
    hf_model_revision: str | None = None
    hf_api_token: str | None = None
    hf_output_repo_name: str | None = None
    wandb_api_key: str | None = None
    wandb_base_url: str | None = None
    wandb_project_name: str | None = None
    wandb_name: str | None = None
    wandb_entity: str | None = None
    # The 1.5.x SDK's flat fields, folded into the objects above.
    lora: bool | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    lora_trainable_modules: str | None = None


class PriceRequest(_Open):
    training_file: str
    validation_file: str | None = None
    model: str | None = None
    from_checkpoint: str | None = None
    n_epochs: int = 1
    n_evals: int = 0
    training_method: dict[str, Any] | None = None
    training_type: dict[str, Any] | None = None


@dataclass(frozen=True)
class CheckpointRef:
    job: Job
    step: int | None


def split_checkpoint_ref(ref: str) -> tuple[str, int | None]:
    """``ID``, ``NAME``, ``ID:STEP`` or ``NAME:STEP``; output names never contain ``:``."""
    head, sep, tail = ref.rpartition(":")
    if sep and tail.isdigit():
        return head, int(tail)
    return ref, None


def _bad(message: str, param: str | None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


# -- field checks ---------------------------------------------------------------------------------


def _check_range(name: str, value: float, low: float, high: float | None, message: str) -> None:
    if value < low or (high is not None and value > high):
        raise _bad(message.format(value), name)


def _method(req: FineTuneRequest) -> dict[str, Any]:
    method = dict(req.training_method or {"method": "sft"})
    kind = method.get("method", "sft")
    if kind not in ("sft", "dpo"):
        raise _bad("training_method must be one of sft, dpo", "training_method.method")
    if kind == "sft":
        for key in (
            "dpo_beta",
            "rpo_alpha",
            "simpo_gamma",
            "dpo_normalize_logratios_by_length",
            "dpo_reference_free",
        ):
            if method.get(key) not in (None, False, 0):
                raise _bad(f"{key} is only supported for DPO training", f"training_method.{key}")
        toi = method.get("train_on_inputs", req.train_on_inputs)
        toi = "auto" if toi is None else toi
        if toi not in (True, False, "auto"):
            raise _bad(
                f"train_on_inputs must be true, false or 'auto' (got {toi!r})",
                "training_method.train_on_inputs",
            )
        return {"method": "sft", "train_on_inputs": toi}
    if req.train_on_inputs is not None or "train_on_inputs" in method:
        raise _bad("train_on_inputs is only supported for SFT training", "train_on_inputs")
    beta = method.get("dpo_beta")
    out: dict[str, Any] = {
        "method": "dpo",
        "dpo_beta": float(0.1 if beta is None else beta),
        "rpo_alpha": float(method.get("rpo_alpha") or 0.0),
        "simpo_gamma": float(method.get("simpo_gamma") or 0.0),
        "dpo_normalize_logratios_by_length": bool(method.get("dpo_normalize_logratios_by_length")),
        "dpo_reference_free": bool(method.get("dpo_reference_free")),
    }
    if out["dpo_beta"] <= 0:
        raise _bad(
            f"dpo_beta should be positive (got {out['dpo_beta']})", "training_method.dpo_beta"
        )
    for key in ("rpo_alpha", "simpo_gamma"):
        if out[key] < 0:
            raise _bad(f"{key} should be non-negative (got {out[key]})", f"training_method.{key}")
    if out["simpo_gamma"] > 0:  # SimPO is reference-free and length-normalised by definition
        out["dpo_reference_free"] = True
        out["dpo_normalize_logratios_by_length"] = True
    return out


def _training_type(
    req: FineTuneRequest, entry: ModelEntry, inherited: dict[str, Any] | None
) -> dict[str, Any]:
    given = dict(req.training_type) if req.training_type else None
    if given is None and req.lora is False:
        given = {"type": "Full"}
    if (
        given is None
        and req.lora is None
        and inherited is not None
        and not any(v is not None for v in (req.lora_r, req.lora_alpha, req.lora_dropout))
    ):
        given = dict(inherited)
    if given is None:
        given = {"type": "Lora"}
        for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_trainable_modules"):
            if getattr(req, key) is not None:
                given[key] = getattr(req, key)
    kind = given.get("type")
    if kind == "Full":
        if entry.full is None:
            raise _bad(
                f"Full training is not supported for the selected model ({entry.name}).",
                "training_type",
            )
        for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_trainable_modules"):
            if given.get(key) is not None or getattr(req, key) is not None:  # nested or flat
                raise _bad(
                    f"You set LoRA parameter `{key}` for a full fine-tuning job. Please change "
                    f"the job type with --lora or remove `{key}` from the arguments",
                    f"training_type.{key}",
                )
        return {"type": "Full"}
    if kind != "Lora":
        raise _bad(
            f"training_type.type must be 'Lora' or 'Full' (got {kind!r})", "training_type.type"
        )
    if entry.lora is None:
        raise _bad(
            f"LoRA adapters are not supported for the selected model ({entry.name}).",
            "training_type",
        )
    limits = entry.lora
    r = int(given.get("lora_r") or limits.default_rank)
    alpha = given.get("lora_alpha")
    dropout = float(given.get("lora_dropout") or 0.0)
    modules = given.get("lora_trainable_modules") or "all-linear"
    _check_range(
        "training_type.lora_r",
        r,
        1,
        limits.max_rank,
        f"LoRA rank must be between 1 and {limits.max_rank} (got {{}})",
    )
    if alpha is None:
        alpha = 2 * r
    if alpha <= 0:
        raise _bad(f"lora_alpha should be positive (got {alpha})", "training_type.lora_alpha")
    if not 0 <= dropout < 1:
        raise _bad("LoRA dropout must be in [0, 1) range.", "training_type.lora_dropout")
    if modules != "all-linear":
        unknown = [m for m in str(modules).split(",") if m.strip() not in limits.target_modules]
        if unknown:
            raise _bad(
                f"Unknown LoRA trainable modules {unknown}; choose from "
                f"{', '.join(limits.target_modules)} or all-linear",
                "training_type.lora_trainable_modules",
            )
    return {
        "type": "Lora",
        "lora_r": r,
        "lora_alpha": int(alpha),
        "lora_dropout": dropout,
        "lora_trainable_modules": modules,
    }


def _scheduler(req: FineTuneRequest) -> dict[str, Any]:
    given = req.lr_scheduler or {"lr_scheduler_type": "linear"}
    kind = given.get("lr_scheduler_type", "linear")
    if kind not in ("linear", "cosine"):
        raise _bad(
            f"lr_scheduler_type must be linear or cosine (got {kind!r})",
            "lr_scheduler.lr_scheduler_type",
        )
    args = dict(given.get("lr_scheduler_args") or {})
    min_ratio = float(args.get("min_lr_ratio", 0.0))
    _check_range(
        "lr_scheduler.lr_scheduler_args.min_lr_ratio",
        min_ratio,
        0,
        1,
        "Min learning rate ratio should be between 0 and 1 (got {})",
    )
    out: dict[str, Any] = {
        "lr_scheduler_type": kind,
        "lr_scheduler_args": {"min_lr_ratio": min_ratio},
    }
    if kind == "cosine":
        cycles = float(args.get("num_cycles", 0.5))
        if cycles <= 0:
            raise _bad(
                f"Number of cycles should be greater than 0 (got {cycles})",
                "lr_scheduler.lr_scheduler_args.num_cycles",
            )
        out["lr_scheduler_args"]["num_cycles"] = cycles
    return out


# -- the whole request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What ``resolve`` needs from the rest of the server, passed in so this module stays pure."""

    tenant: str
    now: datetime
    job_id: str
    output_hash: str
    account: str
    timeline: Timeline
    training_file: FileRecord
    validation_file: FileRecord | None
    checkpoint: CheckpointRef | None


def check_dataset_file(record: FileRecord, param: str) -> None:
    if record.purpose is not FilePurpose.fine_tune:
        raise _bad(f"File {record.id} has purpose {record.purpose.value}, not fine-tune", param)
    if not record.valid:
        report = record.validation_report or {}
        where = f" (line {report['line_number']})" if report.get("line_number") else ""
        raise _bad(
            f"File {record.id} failed validation{where}: "
            f"{report.get('error') or report.get('message') or record.processing_status}",
            param,
        )


def validate_shape(req: FineTuneRequest) -> None:
    """The checks that need nothing but the request, in the order the SDK makes them."""
    if req.model and req.from_checkpoint:
        raise _bad(
            "You must specify either a model or a checkpoint to start a job from, not both",
            "from_checkpoint",
        )
    if not req.model and not req.from_checkpoint:
        raise _bad("You must specify either a model or a checkpoint", "model")
    if req.from_hf_model and not req.model:
        raise _bad(
            "You must specify the base model to fine-tune a model from the Hugging Face Hub",
            "model",
        )
    if req.from_hf_model and req.from_checkpoint:
        raise _bad(
            "You must specify either a Hugging Face Hub model or a previous checkpoint from "
            "Together to start a job from, not both",
            "from_hf_model",
        )
    if not req.training_file:
        raise _bad("training_file is required", "training_file")
    if req.n_evals and not req.validation_file:
        raise _bad(
            "You have specified a number of evaluation loops but no validation file.", "n_evals"
        )


def output_name(account: str, model: str, suffix: str | None, digest: str) -> str:
    base = model.rsplit("/", 1)[-1]
    return f"{account}/{base}-{suffix}-{digest}" if suffix else f"{account}/{base}-{digest}"


def resolve(req: FineTuneRequest, ctx: Context) -> tuple[Job, list[Event]]:
    """Check ``req`` against everything the service knows and build the new job."""
    validate_shape(req)
    inherited: dict[str, Any] | None = None
    model = req.model
    if ctx.checkpoint is not None:
        model = ctx.checkpoint.job.model
        inherited = ctx.checkpoint.job.training_type
    assert model is not None
    entry = catalogue.get(model)
    if entry is None:
        raise _bad(
            f"Model {model} is not supported for fine-tuning. "
            "See GET /v1/fine-tunes/models/supported for the models that are.",
            "model",
        )
    method = _method(req)
    dpo = method["method"] == "dpo"
    training_type = _training_type(req, entry, inherited)
    lora = training_type["type"] == "Lora"

    check_dataset_file(ctx.training_file, "training_file")
    fmt = ctx.training_file.dataset_format
    if dpo and fmt not in (None, "preference"):
        raise _bad(
            f"DPO training needs a preference dataset; {ctx.training_file.id} is {fmt}",
            "training_file",
        )
    if not dpo and fmt == "preference":
        raise _bad(
            f"{ctx.training_file.id} is a preference dataset: set training_method to dpo",
            "training_file",
        )
    if ctx.validation_file is not None:
        check_dataset_file(ctx.validation_file, "validation_file")

    _check_range(
        "n_epochs",
        req.n_epochs,
        1,
        entry.max_num_epochs,
        f"n_epochs must be between 1 and {entry.max_num_epochs} (got {{}})",
    )
    _check_range(
        "n_checkpoints", req.n_checkpoints, 1, None, "n_checkpoints must be at least 1 (got {})"
    )
    _check_range(
        "n_evals",
        req.n_evals,
        0,
        entry.max_num_evals,
        f"n_evals must be between 0 and {entry.max_num_evals} (got {{}})",
    )
    _check_range(
        "learning_rate",
        req.learning_rate,
        entry.min_learning_rate,
        entry.max_learning_rate,
        f"learning_rate must be between {entry.min_learning_rate} and "
        f"{entry.max_learning_rate} (got {{}})",
    )
    _check_range(
        "warmup_ratio", req.warmup_ratio, 0, 1, "Warmup ratio should be between 0 and 1 (got {})"
    )
    _check_range(
        "max_grad_norm",
        req.max_grad_norm,
        0,
        None,
        "Max gradient norm should be non-negative (got {})",
    )
    _check_range(
        "weight_decay", req.weight_decay, 0, None, "Weight decay should be non-negative (got {})"
    )
    if (req.multimodal_params or {}).get("train_vision") and not entry.supports_vision:
        raise _bad(
            f"Vision encoder training is not supported for the non-multimodal model `{entry.name}`",
            "multimodal_params.train_vision",
        )
    seq_cap = entry.max_seq_length_dpo if dpo else entry.max_seq_length_sft
    max_seq = req.max_seq_length or seq_cap
    _check_range(
        "max_seq_length",
        max_seq,
        entry.min_max_seq_length,
        seq_cap,
        f"max_seq_length must be between {entry.min_max_seq_length} and {seq_cap} (got {{}})",
    )
    try:
        batch = catalogue.resolve_batch_size(entry, req.batch_size, lora=lora, dpo=dpo)
    except ValueError as exc:
        raise _bad(str(exc), "batch_size") from exc

    train = ctx.training_file
    packing = req.packing and train.file_type.value == "jsonl"
    if packing:
        steps_per_epoch = math.ceil(train.token_count / (batch * max_seq))
    else:
        steps_per_epoch = math.ceil(train.num_samples / batch)
    steps_per_epoch = max(1, steps_per_epoch)
    total_steps = steps_per_epoch * req.n_epochs
    tokens = train.token_count * req.n_epochs
    eval_tokens = (ctx.validation_file.token_count * req.n_evals) if ctx.validation_file else 0
    price = price_usd(entry, tokens + eval_tokens, lora=lora, dpo=dpo)

    output = output_name(ctx.account, entry.name, req.suffix, ctx.output_hash)
    wandb_url = (
        f"https://wandb.ai/{req.wandb_entity or 'together'}/"
        f"{req.wandb_project_name or 'together'}/runs/{ctx.job_id}"
        if req.wandb_api_key
        else ""
    )
    durations = ctx.timeline.durations()
    job = Job(
        id=ctx.job_id,
        status=JobStatus.pending,
        created_at=ctx.now,
        updated_at=ctx.now,
        started_at=ctx.now,
        user_id=f"user-{ctx.tenant}",
        owner_address=f"{ctx.tenant}@together-sim.local",
        model=entry.name,
        model_output_name=output,
        suffix=req.suffix,
        training_file=train.id,
        validation_file=ctx.validation_file.id if ctx.validation_file else "",
        trainingfile_numlines=train.num_samples,
        trainingfile_size=train.bytes,
        n_epochs=req.n_epochs,
        n_checkpoints=min(req.n_checkpoints, total_steps),
        n_evals=req.n_evals if ctx.validation_file else 0,
        batch_size=batch,
        learning_rate=req.learning_rate,
        lr_scheduler=_scheduler(req),
        warmup_ratio=req.warmup_ratio,
        max_grad_norm=req.max_grad_norm,
        weight_decay=req.weight_decay,
        random_seed=req.random_seed,
        packing=packing,
        max_seq_length=max_seq,
        train_on_inputs=method.get("train_on_inputs"),
        training_method=method,
        training_type=training_type,
        multimodal_params=req.multimodal_params,
        from_checkpoint=req.from_checkpoint,
        from_hf_model=req.from_hf_model,
        hf_model_revision=req.hf_model_revision,
        hf_output_repo_name=req.hf_output_repo_name,
        wandb_project_name=req.wandb_project_name,
        wandb_name=req.wandb_name,
        wandb_url=wandb_url,
        token_count=tokens,
        param_count=entry.param_count,
        total_price=math.ceil(price * 100),
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        eval_steps=max(1, total_steps // req.n_evals) if req.n_evals and ctx.validation_file else 0,
        tenant=ctx.tenant,
        durations=durations,
    )
    created = Event(
        created_at=ctx.now,
        type=EventType.job_pending,
        message="Fine tune request created",
        token_count=tokens,
        param_count=entry.param_count,
        total_steps=total_steps,
        wandb_url=wandb_url,
    )
    return job, [created]


def price_usd(entry: ModelEntry, tokens: int, *, lora: bool, dpo: bool = False) -> float:
    per_million = entry.price_per_million_tokens(lora=lora, dpo=dpo) or 0.0
    return round(tokens * per_million / 1_000_000, 6)


def estimate(
    req: PriceRequest, entry: ModelEntry, train: FileRecord, valid: FileRecord | None
) -> dict[str, Any]:
    """The estimate-price answer, with every field the 1.5.x SDK requires."""
    lora = (req.training_type or {"type": "Lora"}).get("type") != "Full"
    dpo = (req.training_method or {}).get("method") == "dpo"
    train_tokens = train.token_count * max(1, req.n_epochs)
    eval_tokens = valid.token_count * req.n_evals if valid is not None else 0
    price = price_usd(entry, train_tokens + eval_tokens, lora=lora, dpo=dpo)
    return {
        "estimation_available": True,
        "allowed_to_proceed": True,
        "estimated_total_price": price,
        "user_limit": 10_000.0,
        "estimated_train_token_count": train_tokens,
        "estimated_eval_token_count": eval_tokens,
    }


def find_entry(name: str) -> ModelEntry:
    entry = catalogue.get(name)
    if entry is None:
        raise NotFound(
            "model", name, message=f"Model {name} is not supported for fine-tuning", param="model"
        )
    return entry


# -- the job as the API shows it -----------------------------------------------------------------

_HIDDEN = {
    "tenant",
    "durations",
    "cursor",
    "metrics_logged_to",
    "cancel_requested_at",
    "failed_at",
    "fault",
    "failure_message",
    "hf_output_repo_name",
    "trainer",
    "worker_launched",
    "eta",
}


def render_job(
    job: Job, *, seconds_remaining: int, events: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A ``FinetuneResponse``: the spec's field names, strings never null (keys are left out
    instead), timestamps with microseconds and ``Z``, and the ``batch_size`` resolved to the
    integer that the 1.5.x SDK insists on."""
    body: dict[str, Any] = {
        key: value
        for key, value in job.model_dump(mode="json", exclude=_HIDDEN).items()
        if value is not None
    }
    for key in ("created_at", "updated_at", "started_at"):
        moment = getattr(job, key)
        if moment is not None:
            body[key] = iso(moment)
    body["object"] = "fine-tune"
    body["job_id"] = job.id
    body["queue_depth"] = 0
    body["model_output_path"] = f"s3://together-sim/finetune/{job.id}/{job.model_output_name}"
    if job.is_lora:
        body["adapter_output_name"] = f"{job.model_output_name}-adapter"
    body["progress"] = {
        "estimate_available": job.status
        in (JobStatus.running, JobStatus.compressing, JobStatus.uploading),
        "seconds_remaining": seconds_remaining,
    }
    body["events"] = events if events is not None else []
    return body
