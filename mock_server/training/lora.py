"""Real LoRA (or full) fine-tuning of a small causal LM, SFT or DPO, in one readable loop.

The shape is nanoGPT's: a frozen config (``config.TrainConfig``), then ``train()`` from top to
bottom (base model, data, adapter, optimizer and schedule, the loop, the final save). The trainer
never touches the store or the clock; the job runner turns the reports it receives (``on_step``,
``on_eval``, ``on_checkpoint``; the dataclasses of ``reports.py``) into events and metrics, and
cancels through ``should_stop``, which is polled before every optimizer step.

Decisions worth knowing:

* The learning rate comes from ``mock_server.fine_tuning.lr_schedule.Schedule``, the same
  object the simulated timeline reports from, wrapped in a ``LambdaLR``; step ``s`` (from 1)
  trains at ``Schedule.lr_at(s - 1)``, which is what ``/metrics`` reports as
  ``train/learning_rate``.
* Steps: an epoch is ``ceil(rows / batch_size)`` optimizer steps over the (packed) rows, in an
  order that depends only on the seed and the epoch. ``max_steps`` overrides the total, so a
  runner can impose the step count it already announced.
* Checkpoints (adapter + optimizer + scheduler + RNG state) are saved at ``round(k*T/n)`` for
  k = 1..n_checkpoints, except at T, which is the final save; evaluations run at
  ``round(k*T/n_evals)``. Both spacings equal ``mock_server.fine_tuning.machine``'s. Resuming
  from a checkpoint (``resume_from``) reproduces the uninterrupted run's losses exactly (same
  device and thread count).
* Starting from another run's weights (``init_adapter``, Together's ``from_checkpoint``) is not a
  resume: the optimizer and the schedule start fresh, with this run's hyper-parameters. The saved
  adapter defines the adapter (its rank, alpha and target modules; the dropout is this run's); a
  full fine-tune merges it into the base first. With DPO the reference is the model the run
  starts from, as DPO defines it, not the bare base.
* Pre-tokenized rows (Together's Parquet: ``input_ids``, ``labels``, ``attention_mask``) train as
  they are, unpacked, with their labels as the mask (``pretokenized.py`` says which ids a base
  takes).
* The loss is the mean over target tokens of the batch (SFT), or the DPO loss of ``dpo.py``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model

from mock_server.fine_tuning.stand_in import resolve_target_modules
from mock_server.training import checkpoints, data, dpo, models, pretokenized
from mock_server.training.batch import token_loss
from mock_server.training.config import TrainConfig, spread
from mock_server.training.reports import (
    CheckpointReport,
    EvalReport,
    StartReport,
    StepReport,
    TrainResult,
)

__all__ = ["train"]

Module = torch.nn.Module


def train(
    cfg: TrainConfig,
    train_rows: Sequence[Mapping[str, Any]],
    eval_rows: Sequence[Mapping[str, Any]] = (),
    *,
    out_dir: Path,
    on_start: Callable[[StartReport], None] | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    on_eval: Callable[[EvalReport], None] | None = None,
    on_checkpoint: Callable[[CheckpointReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume_from: Path | None = None,
    init_adapter: Path | None = None,
) -> TrainResult:
    started = time.perf_counter()
    out_dir = Path(out_dir)
    device, dtype = models.pick_device(cfg.device, cfg.dtype)

    dpo_mode = cfg.training_method == "dpo"
    tokenized = pretokenized.is_pretokenized(train_rows)  # Parquet rows: token ids, not text
    if eval_rows and pretokenized.is_pretokenized(eval_rows) != tokenized:
        raise ValueError("the validation file must be Parquet exactly when the training file is")
    if tokenized and dpo_mode:
        raise ValueError("DPO needs preference rows (JSONL); Parquet files hold SFT token ids")

    # The base. A tiny one is built once into the job's folder (tokenizer trained on the rows),
    # then loaded from disk like any local model, so a fresh run and a resumed one start from
    # bit-identical weights.
    base_dir = Path(cfg.model)
    if cfg.model in models.SIZES:
        base_dir = out_dir / "base"
        if not (base_dir / "config.json").exists():
            _build_tiny(cfg, [*train_rows, *eval_rows] if tokenized else train_rows, base_dir)
    base, tokenizer = models.load_base(base_dir, device=device, dtype=dtype)
    pad_id = int(tokenizer.pad_token_id)
    param_count = sum(p.numel() for p in base.parameters())

    # The data: SFT rows (packed or not), pre-tokenized rows (never packed) or DPO pairs.
    rows: list[Any]
    eval_set: list[Any]
    if tokenized:
        vocab = int(base.config.vocab_size)
        token_map = pretokenized.load_token_map(base_dir)
        rows, eval_set = (
            data.unpacked(
                pretokenized.build_examples(
                    r, vocab_size=vocab, token_map=token_map, max_length=cfg.max_seq_length
                )
            )
            for r in (train_rows, eval_rows)
        )
    else:
        # "auto" is resolved on the training file and the answer reused for evaluation, so that
        # the eval loss measures the same tokens as the training loss.
        on_inputs = data.resolve_train_on_inputs(
            cfg.train_on_inputs, [] if dpo_mode else train_rows
        )
        rows = _rows(cfg, train_rows, tokenizer, on_inputs, pack=cfg.packing)
        eval_set = _rows(cfg, eval_rows, tokenizer, on_inputs, pack=False)
    if not rows:
        raise ValueError("no training example has a token to train on")
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = cfg.max_steps or steps_per_epoch * cfg.n_epochs

    # The trainable model. The adapter's init draws from the job's seed, whatever built the base.
    torch.manual_seed(cfg.random_seed)
    if cfg.full:
        model: Module = base if init_adapter is None else checkpoints.merged(base, init_adapter)
    elif init_adapter is not None:
        model = checkpoints.continued_adapter(base, init_adapter, cfg.lora_dropout)
    else:
        modules = cfg.lora_trainable_modules
        lora = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha if cfg.lora_alpha is not None else 2 * cfg.lora_r,
            lora_dropout=cfg.lora_dropout,
            target_modules=list(
                resolve_target_modules(modules if isinstance(modules, str) else list(modules))
            ),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base, lora)
    # DPO's reference is the model the run starts from. A fresh adapter's is the base, which the
    # policy gives with its adapter disabled; anything else needs a frozen copy.
    reference: Module | None = None
    if dpo_mode and cfg.dpo_params().uses_reference and (cfg.full or init_adapter is not None):
        reference = copy.deepcopy(model).train(False).requires_grad_(False)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]

    # AdamW with decay on matrices only; the schedule is the server's, step for step. The fused
    # kernel (CPU and CUDA) updates every tensor in one call instead of a dozen ops per tensor.
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.split(":")[0] in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=fused)
    schedule = cfg.schedule(total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: schedule.factor(s))

    done, losses = 0, list[float]()
    if resume_from is not None:
        done, losses = checkpoints.load_state(Path(resume_from), model, optimizer, scheduler, total)

    checkpoint_at = {s for s in spread(cfg.n_checkpoints, total) if s < total}
    eval_at = set(spread(cfg.n_evals, total)) if eval_set else set()
    evals: list[tuple[int, float]] = []
    saved: list[CheckpointReport] = []
    tokens_seen, stopped = 0, False
    if on_start is not None:
        on_start(
            StartReport(
                total_steps=total,
                steps_per_epoch=steps_per_epoch,
                resumed_at=done,
                tokens_per_epoch=sum(_length(r) for r in rows),
                param_count=param_count,
                trainable_param_count=sum(p.numel() for p in params),
                device=device,
                dtype=dtype,
                threads=torch.get_num_threads(),
            )
        )

    def loss_of(batch: list[Any]) -> tuple[torch.Tensor, int, dict[str, float]]:
        """The batch's mean loss, what it averages over (tokens, or pairs) and DPO metrics."""
        if dpo_mode:
            loss, metrics = dpo.dpo_loss(model, reference, batch, cfg.dpo_params(), pad_id, device)
            return loss, len(batch), metrics
        summed, count = token_loss(model, batch, pad_id, device)
        return summed / count, count, {}

    for step in range(done + 1, total + 1):
        if should_stop is not None and should_stop():
            stopped = True
            break
        t0 = time.perf_counter()
        batch = [
            rows[i]
            for i in data.batch_indices(len(rows), cfg.batch_size, cfg.random_seed, step - 1)
        ]
        loss, _, metrics = loss_of(batch)
        loss.backward()  # type: ignore[no-untyped-call]
        clip = cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        lr = float(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        tokens = sum(_length(r) for r in batch)
        tokens_seen += tokens
        losses.append(loss.item())
        if on_step is not None:
            seconds = max(time.perf_counter() - t0, 1e-9)
            epoch = round(step / steps_per_epoch, 4)
            on_step(
                StepReport(
                    step, total, losses[-1], lr, grad_norm, tokens, tokens / seconds, epoch, metrics
                )
            )
        if step in eval_at:
            evals.append((step, _evaluate(loss_of, eval_set, cfg.batch_size, model)))
            if on_eval is not None:
                on_eval(EvalReport(step, total, evals[-1][1]))
        if step in checkpoint_at:
            path = out_dir / "checkpoints" / f"checkpoint-{step}"
            checkpoints.save_weights(
                model,
                path,
                cfg.base_model_name,
                base_description=cfg.base_description,
                job_id=cfg.job_id,
            )
            checkpoints.save_state(path, model, optimizer, scheduler, step, total, losses)
            saved.append(CheckpointReport(step, total, path))
            if on_checkpoint is not None:
                on_checkpoint(saved[-1])

    # The final save: the adapter as peft writes it (or the full model), optionally merged.
    adapter_dir = merged_dir = model_dir = None
    if not stopped:
        if cfg.full:
            model_dir = out_dir / "model"
            models.save_base(model, tokenizer, model_dir)  # type: ignore[arg-type]
        else:
            adapter_dir = out_dir / "adapter"
            checkpoints.save_weights(
                model,
                adapter_dir,
                cfg.base_model_name,
                base_description=cfg.base_description,
                job_id=cfg.job_id,
            )
            if cfg.save_merged:
                merged_dir = out_dir / "merged"
                models.save_base(model.merge_and_unload(), tokenizer, merged_dir)  # type: ignore[operator]

    return TrainResult(
        total_steps=total,
        steps_completed=len(losses),
        steps_per_epoch=steps_per_epoch,
        stopped=stopped,
        losses=tuple(losses),
        eval_losses=tuple(evals),
        checkpoints=tuple(saved),
        base_dir=base_dir,
        adapter_dir=adapter_dir,
        merged_dir=merged_dir,
        model_dir=model_dir,
        token_count=tokens_seen,
        param_count=param_count,
        trainable_param_count=sum(p.numel() for p in params),
        device=device,
        dtype=dtype,
        seconds=time.perf_counter() - started,
    )


# -- data -----------------------------------------------------------------------------------------


def _build_tiny(cfg: TrainConfig, rows: Sequence[Mapping[str, Any]], base_dir: Path) -> None:
    """A tiny base saved into the job's folder, with a tokenizer trained on the rows; for
    pre-tokenized rows, a byte-level tokenizer (so chat still encodes) and one embedding row per
    distinct id of the data, numbered in id order (``pretokenized.py`` says why)."""
    positions = max(512, cfg.max_seq_length)
    if pretokenized.is_pretokenized(rows):
        ids = pretokenized.distinct_ids(rows)
        tokenizer = models.train_tokenizer([], cfg.vocab_size)
        tiny = models.build_model(cfg.model, tokenizer, max_positions=positions)
        tiny.resize_token_embeddings(max(len(tokenizer), len(ids)), mean_resizing=False)
        models.save_base(tiny, tokenizer, base_dir)
        pretokenized.save_token_map(base_dir, ids)
        return
    tokenizer = models.train_tokenizer(data.text_corpus(rows), cfg.vocab_size)
    tiny = models.build_model(cfg.model, tokenizer, max_positions=positions)
    models.save_base(tiny, tokenizer, base_dir)


def _rows(
    cfg: TrainConfig,
    rows: Sequence[Mapping[str, Any]],
    tokenizer: Any,
    train_on_inputs: bool,
    *,
    pack: bool,
) -> list[Any]:
    if cfg.training_method == "dpo":
        return data.build_preference_examples(rows, tokenizer, max_length=cfg.max_seq_length)
    examples = data.build_examples(
        rows, tokenizer, train_on_inputs=train_on_inputs, max_length=cfg.max_seq_length
    )
    return data.pack(examples, cfg.max_seq_length) if pack else data.unpacked(examples)


def _length(row: data.TrainRow | data.PreferenceExample) -> int:
    if isinstance(row, data.TrainRow):
        return len(row.input_ids)
    return 2 * len(row.prompt_ids) + len(row.chosen_ids) + len(row.rejected_ids)


# -- evaluation ---------------------------------------------------------------------------------


def _evaluate(
    loss_of: Callable[[list[Any]], tuple[torch.Tensor, int, dict[str, float]]],
    rows: list[Any],
    batch_size: int,
    model: Module,
) -> float:
    """Mean loss over all evaluation target tokens (SFT) or pairs (DPO), dropout off."""
    model.eval()
    total, weight = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            loss, n, _ = loss_of(rows[i : i + batch_size])
            total, weight = total + loss.item() * n, weight + n
    model.train()
    return total / weight
