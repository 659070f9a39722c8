"""Creating fine-tuning jobs: the request (``requests.py``) checked as the service checks
it, and priced.

``resolve`` turns a request into a ``Job`` or raises ``InvalidRequest`` naming the offending
field, with the messages the SDKs use for the same rule, so a user sees the same words whichever
side catches the mistake. ``estimate`` prices a request after the same checks (the clients ask
for an estimate with the body they then create with), so no estimate is given for a job that
could not be created.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mock_server.catalogue import fine_tuning as catalogue
from mock_server.catalogue.fine_tuning import ModelEntry
from mock_server.core.errors import NotFound
from mock_server.files.models import FilePurpose, FileRecord
from mock_server.fine_tuning import fields
from mock_server.fine_tuning.events import Event, EventType
from mock_server.fine_tuning.models import Job, JobStatus, Timeline
from mock_server.fine_tuning.requests import (
    CheckpointRef,
    FineTuneRequest,
    PriceRequest,
    bad,
)

__all__ = [
    "Context",
    "check_dataset_file",
    "check_datasets",
    "check_limits",
    "estimate",
    "find_entry",
    "output_name",
    "price_usd",
    "resolve",
    "validate_shape",
]


NANODOLLARS_PER_DOLLAR = 10**9  # a job's ``total_price`` unit; the estimate's prices are in USD
USER_LIMIT = 10_000.0  # the account's spending limit in USD, as the estimate reports it

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
        raise bad(f"File {record.id} has purpose {record.purpose.value}, not fine-tune", param)
    if not record.valid:
        report = record.validation_report or {}
        where = f" (line {report['line_number']})" if report.get("line_number") else ""
        raise bad(
            f"File {record.id} failed validation{where}: "
            f"{report.get('error') or report.get('message') or record.processing_status}",
            param,
        )


def validate_shape(req: FineTuneRequest) -> None:
    """The checks that need nothing but the request, in the order the SDK makes them."""
    if req.model and req.from_checkpoint:
        raise bad(
            "You must specify either a model or a checkpoint to start a job from, not both",
            "from_checkpoint",
        )
    if not req.model and not req.from_checkpoint:
        raise bad("You must specify either a model or a checkpoint", "model")
    if req.from_hf_model and not req.model:
        raise bad(
            "You must specify the base model to fine-tune a model from the Hugging Face Hub",
            "model",
        )
    if req.from_hf_model and req.from_checkpoint:
        raise bad(
            "You must specify either a Hugging Face Hub model or a previous checkpoint from "
            "Together to start a job from, not both",
            "from_hf_model",
        )
    if not req.training_file:
        raise bad("training_file is required", "training_file")
    if req.n_evals and not req.validation_file:
        raise bad(
            "You have specified a number of evaluation loops but no validation file.", "n_evals"
        )


def check_datasets(train: FileRecord, valid: FileRecord | None, *, dpo: bool) -> None:
    """The training (and validation) file fit the training method."""
    check_dataset_file(train, "training_file")
    fmt = train.dataset_format
    if dpo and fmt not in (None, "preference"):
        raise bad(f"DPO training needs a preference dataset; {train.id} is {fmt}", "training_file")
    if not dpo and fmt == "preference":
        raise bad(
            f"{train.id} is a preference dataset: set training_method to dpo", "training_file"
        )
    if valid is not None:
        check_dataset_file(valid, "validation_file")


def check_limits(
    req: FineTuneRequest, entry: ModelEntry, *, lora: bool, dpo: bool
) -> tuple[int, int]:
    """The counts and hyper-parameters against the model's limits; the sequence length and the
    batch size they resolve to."""
    fields.check_range(
        "n_epochs",
        req.n_epochs,
        1,
        entry.max_num_epochs,
        f"n_epochs must be between 1 and {entry.max_num_epochs} (got {{}})",
    )
    fields.check_range(
        "n_checkpoints", req.n_checkpoints, 1, None, "n_checkpoints must be at least 1 (got {})"
    )
    fields.check_range(
        "n_evals",
        req.n_evals,
        0,
        entry.max_num_evals,
        f"n_evals must be between 0 and {entry.max_num_evals} (got {{}})",
    )
    fields.check_range(
        "learning_rate",
        req.learning_rate,
        entry.min_learning_rate,
        entry.max_learning_rate,
        f"learning_rate must be between {entry.min_learning_rate} and "
        f"{entry.max_learning_rate} (got {{}})",
    )
    fields.check_range(
        "warmup_ratio", req.warmup_ratio, 0, 1, "Warmup ratio should be between 0 and 1 (got {})"
    )
    fields.check_range(
        "max_grad_norm",
        req.max_grad_norm,
        0,
        None,
        "Max gradient norm should be non-negative (got {})",
    )
    fields.check_range(
        "weight_decay", req.weight_decay, 0, None, "Weight decay should be non-negative (got {})"
    )
    if (req.multimodal_params or {}).get("train_vision") and not entry.supports_vision:
        raise bad(
            f"Vision encoder training is not supported for the non-multimodal model `{entry.name}`",
            "multimodal_params.train_vision",
        )
    seq_cap = entry.max_seq_length_dpo if dpo else entry.max_seq_length_sft
    max_seq = req.max_seq_length or seq_cap
    fields.check_range(
        "max_seq_length",
        max_seq,
        entry.min_max_seq_length,
        seq_cap,
        f"max_seq_length must be between {entry.min_max_seq_length} and {seq_cap} (got {{}})",
    )
    try:
        batch = catalogue.resolve_batch_size(entry, req.batch_size, lora=lora, dpo=dpo)
    except ValueError as exc:
        raise bad(str(exc), "batch_size") from exc
    return max_seq, batch


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
        raise bad(
            f"Model {model} is not supported for fine-tuning. "
            "See GET /v1/fine-tunes/models/supported for the models that are.",
            "model",
        )
    method = fields.training_method(req)
    dpo = method["method"] == "dpo"
    training_type = fields.training_type(req, entry, inherited)
    lora = training_type["type"] == "Lora"

    check_datasets(ctx.training_file, ctx.validation_file, dpo=dpo)
    max_seq, batch = check_limits(req, entry, lora=lora, dpo=dpo)

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
        lr_scheduler=fields.lr_scheduler(req),
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
        total_price=round(price * NANODOLLARS_PER_DOLLAR),
        price_unit="nanodollar",
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
    req: PriceRequest,
    entry: ModelEntry,
    train: FileRecord,
    valid: FileRecord | None,
    inherited: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The estimate-price answer, with every field the 1.5.x SDK requires, for a request that
    passes the checks a create makes of it (``inherited``: the training type of the checkpoint
    it continues from)."""
    dpo = fields.training_method(req)["method"] == "dpo"
    lora = fields.training_type(req, entry, inherited)["type"] == "Lora"
    check_datasets(train, valid, dpo=dpo)
    check_limits(req, entry, lora=lora, dpo=dpo)
    train_tokens = train.token_count * req.n_epochs
    eval_tokens = valid.token_count * req.n_evals if valid is not None else 0
    price = price_usd(entry, train_tokens + eval_tokens, lora=lora, dpo=dpo)
    return {
        "estimation_available": True,
        "allowed_to_proceed": price <= USER_LIMIT,
        "estimated_total_price": price,
        "user_limit": USER_LIMIT,
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
