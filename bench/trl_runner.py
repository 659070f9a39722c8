"""TRL's side of the trainer bench: ``SFTTrainer`` set up to do exactly the work our trainer does
(:mod:`bench.trainer_runs` lists what makes it the same), and its timed run."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from bench.trainer_runs import LOG_EVERY, Job, eval_loss, ordered_rows, read_rows, sync

__all__ = ["run_trl", "trl_dataset", "trl_trainer"]

Row = Mapping[str, Any]


def trl_dataset(rows: Sequence[Row], job: Job) -> Any:
    from datasets import Dataset  # type: ignore[import-untyped]

    return Dataset.from_list([{"messages": r["messages"]} for r in ordered_rows(rows, job)])


def _checkpointing_field(config: type) -> str:
    names = {f.name for f in fields(config)}
    return next(n for n in ("activation_checkpointing", "gradient_checkpointing") if n in names)


def trl_trainer(job: Job, rows: Sequence[Row], callbacks: Sequence[Any] = ()) -> Any:
    """TRL's SFTTrainer set up as our trainer runs (the module docstring says how)."""
    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]  # lazy exports

    from mock_server.training import models

    base, tokenizer = models.load_base(job.base_dir, device=job.device, dtype=job.dtype)
    # TRL's default is on (~45 % slower on CPU); transformers 5 renamed the switch
    off: dict[str, Any] = {_checkpointing_field(SFTConfig): False}
    args = SFTConfig(
        output_dir=job.out_dir,
        max_steps=job.steps,
        per_device_train_batch_size=job.batch_size,
        learning_rate=job.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=math.ceil(job.steps * job.warmup_ratio),  # = our Schedule.warmup_steps
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_steps=LOG_EVERY,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=job.device == "cpu",
        seed=job.seed,
        dataloader_num_workers=0,
        max_length=job.max_length,
        assistant_only_loss=True,
        packing=False,
        include_num_input_tokens_seen="non_padding",
        bf16=job.dtype == "bfloat16",
        fp16=False,
        train_sampling_strategy="sequential",  # the batches come pre-ordered: see ordered_rows
        **off,
    )
    lora = LoraConfig(
        r=job.lora_r,
        lora_alpha=job.lora_alpha,
        lora_dropout=job.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(job.seed)  # as our trainer seeds right before get_peft_model
    return SFTTrainer(
        model=base,
        args=args,
        train_dataset=trl_dataset(rows, job),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=list(callbacks),
    )


def run_trl(job: Job) -> dict[str, Any]:
    import torch
    from transformers import TrainerCallback

    torch.set_num_threads(job.threads)
    rows, held_out = read_rows(job.train_path), read_rows(job.eval_path)
    clock: dict[str, float] = {}

    class Clock(TrainerCallback):
        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            sync(job.device)
            clock["start"], clock["cpu_start"] = time.perf_counter(), time.process_time()

        def on_train_end(self, *args: Any, **kwargs: Any) -> None:
            sync(job.device)
            clock["end"], clock["cpu_end"] = time.perf_counter(), time.process_time()

    trainer = trl_trainer(job, rows, [Clock()])
    trainer.train()
    seconds = clock["end"] - clock["start"]
    tokens = int(trainer.state.num_input_tokens_seen)
    logged = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    if not logged:  # fewer steps than LOG_EVERY: only the run's mean was logged
        logged = [trainer.state.log_history[-1]["train_loss"]]
    model = trainer.model
    return {
        "tokens": tokens,
        "train_s": seconds,
        "train_cpu_s": clock["cpu_end"] - clock["cpu_start"],  # all threads of the process
        "tokens_per_s": tokens / seconds,
        "train_loss": float(logged[-1]),
        "eval_loss": eval_loss(model, trainer.processing_class, held_out, job),
        "steps": int(trainer.state.global_step),
        "param_count": sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n),
        "trainable_param_count": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "optimizer": str(getattr(trainer.args.optim, "value", trainer.args.optim)),
    }
