"""The child side of the trainer bench: one training run (ours or TRL's) per fresh process.

``python -m bench.trainer_runs {prepare|ours|trl} JOB.json OUT.json``; TRL's side is in
:mod:`bench.trl_runner`. Each run is its own interpreter so that its peak RSS (``ru_maxrss``) is
its own, and imports (torch, TRL's datasets and pandas) are paid where they belong.
:mod:`bench.trainer` starts these and builds the table.

What makes the two runs the same work:

* **Base and tokenizer**: ``prepare`` builds the tiny base once (fixed seed, BPE trained on the
  training rows) and saves it; both runners load it from that directory with
  ``models.load_base``, on the same device and dtype.
* **Batches**: ours draws step ``s``'s rows with ``data.batch_indices``; TRL gets the rows laid out
  in exactly that order and samples them sequentially, so both see identical batches (hence the
  same padding and the same non-padding token count, which the bench checks).
* **Masking**: assistant-only loss on both (ours: ``train_on_inputs=False``; TRL:
  ``assistant_only_loss=True`` with the ``{% generation %}`` template the tokenizer carries).
  Packing off on both: TRL's packing is BFD padding-free, which our greedy packer is not.
* **Optimisation**: LoRA r/alpha/dropout on all linear layers, AdamW at the same lr, cosine with
  the same warmup steps, clipping at 1.0, no weight decay; the adapter init seeded alike.
  ``torch.set_num_threads`` identical; gradient checkpointing off for TRL.
* **Clock**: from just before the first step to just after the last (model load, tokenising and
  the final save excluded); the eval loss after training is computed by the same function.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

__all__ = ["LOG_EVERY", "Job", "eval_loss", "main", "ordered_rows", "read_rows", "sync"]

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Job:
    base_dir: str
    train_path: str  # JSONL chat rows
    eval_path: str
    out_dir: str
    steps: int = 100
    batch_size: int = 8
    max_length: int = 128
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.05
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    dtype: str = "float32"
    # prepare only: a size of models.SIZES, or "hidden/layers/heads/kv_heads/intermediate"
    size: str = "micro"
    vocab_size: int = 1024


LOG_EVERY = 10  # TRL logs the mean loss of every 10 steps (logging each step would slow it)


def _window_mean(losses: Sequence[float]) -> float:
    """The mean loss over TRL's last logged window: steps k-9..k, k the last multiple of
    LOG_EVERY (all steps when there are fewer)."""
    end = len(losses) // LOG_EVERY * LOG_EVERY
    window = losses[end - LOG_EVERY : end] if end else losses
    return sum(window) / len(window)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]


def ordered_rows(rows: Sequence[Row], job: Job) -> list[Row]:
    """The rows in the order our trainer draws them, step after step, so that TRL's sequential
    sampler yields the very same batches (every batch is full: the bench keeps ``len(rows)`` a
    multiple of the batch size)."""
    from mock_server.training import data

    if len(rows) % job.batch_size:
        raise ValueError(f"{len(rows)} rows is not a multiple of batch size {job.batch_size}")
    return [
        rows[i]
        for step in range(job.steps)
        for i in data.batch_indices(len(rows), job.batch_size, job.seed, step)
    ]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def eval_loss(model: Any, tokenizer: Any, rows: Sequence[Row], job: Job) -> float:
    """Mean next-token loss over the assistant tokens of ``rows``, dropout off: the same function
    for both runners, so the sanity row compares like with like."""
    import torch

    from mock_server.training import data
    from mock_server.training.batch import token_loss

    examples = data.unpacked(
        data.build_examples(rows, tokenizer, train_on_inputs=False, max_length=job.max_length)
    )
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), job.batch_size):
            chunk = examples[i : i + job.batch_size]
            summed, n = token_loss(model, chunk, tokenizer.pad_token_id, job.device)
            total, count = total + float(summed), count + n
    return total / count


def prepare(job: Job) -> dict[str, Any]:
    """Build and save the base, and say what the machine offers (for the GPU rows)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from mock_server.training import data, models

    rows = read_rows(job.train_path)
    tokenizer = models.train_tokenizer(data.text_corpus(rows), job.vocab_size)
    if job.size in models.SIZES:
        model: Any = models.build_model(job.size, tokenizer, max_positions=max(512, job.max_length))
    else:  # a stand-in of another shape, built the way build_model builds the tiny ones
        h, layers, heads, kv, inter = (int(x) for x in job.size.split("/"))
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=h,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            intermediate_size=inter,
            max_position_embeddings=max(512, job.max_length),
            tie_word_embeddings=True,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=None,
        )
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
    models.save_base(model, tokenizer, Path(job.base_dir))
    cuda = torch.cuda.is_available()
    return {
        "param_count": sum(p.numel() for p in model.parameters()),
        "vocab": len(tokenizer),
        "cuda": cuda,
        "gpu_name": torch.cuda.get_device_name(0) if cuda else None,
        "torch": torch.__version__,
    }


def run_ours(job: Job) -> dict[str, Any]:
    import torch
    from peft import PeftModel

    from mock_server.training import models
    from mock_server.training.config import TrainConfig
    from mock_server.training.lora import train
    from mock_server.training.reports import StepReport

    torch.set_num_threads(job.threads)
    rows, held_out = read_rows(job.train_path), read_rows(job.eval_path)
    cfg = TrainConfig(
        model=job.base_dir,
        train_on_inputs=False,
        lora_r=job.lora_r,
        lora_alpha=job.lora_alpha,
        lora_dropout=job.lora_dropout,
        learning_rate=job.learning_rate,
        max_steps=job.steps,
        batch_size=job.batch_size,
        max_seq_length=job.max_length,
        packing=False,
        warmup_ratio=job.warmup_ratio,
        lr_scheduler_type="cosine",
        max_grad_norm=1.0,
        weight_decay=0.0,
        random_seed=job.seed,
        device=job.device,
        dtype=job.dtype,
    )
    clock: dict[str, float] = {}

    def on_start(_: object) -> None:
        sync(job.device)
        clock["start"], clock["cpu_start"] = time.perf_counter(), time.process_time()

    def on_step(_: StepReport) -> None:  # reads loss.item(), so the step has finished
        clock["end"], clock["cpu_end"] = time.perf_counter(), time.process_time()

    result = train(cfg, rows, out_dir=Path(job.out_dir), on_start=on_start, on_step=on_step)
    seconds = clock["end"] - clock["start"]
    assert result.adapter_dir is not None
    base, tokenizer = models.load_base(job.base_dir, device=job.device, dtype=job.dtype)
    model = PeftModel.from_pretrained(base, str(result.adapter_dir))
    return {
        "tokens": result.token_count,
        "train_s": seconds,
        "train_cpu_s": clock["cpu_end"] - clock["cpu_start"],  # all threads of the process
        "tokens_per_s": result.token_count / seconds,
        "train_loss": _window_mean(result.losses),
        "eval_loss": eval_loss(model, tokenizer, held_out, job),
        "steps": result.steps_completed,
        "param_count": result.param_count,
        "trainable_param_count": result.trainable_param_count,
        "optimizer": "the trainer's AdamW (fused)",
    }


def main(argv: Sequence[str]) -> int:
    from bench.trl_runner import run_trl

    runner, job_path, out_path = argv
    job = Job(**json.loads(Path(job_path).read_text()))
    started = time.perf_counter()
    runners = {"prepare": prepare, "ours": run_ours, "trl": run_trl}
    result = runners[runner](job)
    result.update(
        versions={name: version(name) for name in ("torch", "transformers", "peft", "trl")},
        runner=runner,
        wall_s=time.perf_counter() - started,
        peak_rss_mb=_peak_rss_mb(),
        job=asdict(job),
    )
    Path(out_path).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
