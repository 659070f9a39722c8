"""Our trainer beside TRL's ``SFTTrainer``: tokens/s, peak RSS and the losses both end at.

Each run is a fresh child process (:mod:`bench.trainer_runs`, whose docstring lists what makes the
two runs the same work), so its peak RSS is its own. Per size, the base is built once and both
runners load it from disk; then the runs alternate, ABBA (ours, TRL, TRL, ours, ...), so drift in
the machine's load hits both alike. The table gives the median with min–max, the ratio of the
medians with the ≥ 1.2× target, the peak RSS of both, and two sanity rows: both processed the same
non-padding tokens, and both ended at the same train and eval loss (so the ratio is of equal work).

On a GPU the bench also runs the small stand-in, a random Llama of SmolLM2-135M's shape and, when
``BENCH_SMOLLM2_DIR`` names a local Hugging Face directory of it, SmolLM2 itself, with MFU.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.trainer_runs import Job

__all__ = ["GPU_PEAK_TFLOPS", "Plan", "TrainerSettings", "markdown", "measure_trainers"]

TARGET = 1.2  # ours / TRL, tokens per second
SMOLLM2_ENV = "BENCH_SMOLLM2_DIR"
SMOLLM2_SHAPE = "576/30/9/3/1536"  # hidden/layers/heads/kv heads/intermediate of SmolLM2-135M
# Dense bf16 tensor-core peaks from the vendors' data sheets (no sparsity), matched on the device
# name; BENCH_PEAK_TFLOPS overrides them.
GPU_PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L4": 121.0}


@dataclass(frozen=True)
class Plan:
    label: str
    size: str  # models.SIZES key, a "h/layers/heads/kv/inter" stand-in, or "" for base_dir as is
    steps: int
    base_dir: str = ""  # a local Hugging Face directory (SmolLM2), else built under the tmp dir


@dataclass(frozen=True)
class TrainerSettings:
    reps: int = 3
    threads: int = 1
    rows: int = 1000  # a multiple of the batch size: every batch is full (see ordered_rows)
    eval_rows: int = 100
    batch_size: int = 8
    max_length: int = 128
    cpu: tuple[Plan, ...] = (Plan("micro", "micro", 200), Plan("small", "small", 100))
    gpu_steps: int = 100


def _gpu_plans(settings: TrainerSettings) -> tuple[list[Plan], str | None]:
    plans = [
        Plan("small, GPU", "small", settings.gpu_steps),
        Plan("SmolLM2-135M-shaped stand-in, GPU", SMOLLM2_SHAPE, settings.gpu_steps),
    ]
    smollm2 = os.environ.get(SMOLLM2_ENV)
    if smollm2 and (Path(smollm2) / "config.json").is_file():
        return [*plans, Plan("SmolLM2-135M, GPU", "", settings.gpu_steps, smollm2)], None
    why = f"{SMOLLM2_ENV} is not set" if not smollm2 else f"{smollm2} has no config.json"
    return plans, f"SmolLM2 rows not run: {why} (a local Hugging Face directory of SmolLM2-135M)"


def _child(runner: str, job: Job, workdir: Path) -> dict[str, Any]:
    """One fresh process; raises with the child's last lines when it fails."""
    stem = f"{runner}-{time.monotonic_ns()}"
    job_path, out_path = workdir / f"{stem}.job.json", workdir / f"{stem}.out.json"
    job_path.write_text(json.dumps(asdict(job)))
    threads = str(job.threads)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_VERBOSITY": "error",
        "PYTHONWARNINGS": "ignore",
    }
    argv = [sys.executable, "-m", "bench.trainer_runs", runner, str(job_path), str(out_path)]
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"bench.trainer_runs {runner} failed ({done.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def _summary(samples: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def _measure(plan: Plan, job: Job, reps: int, workdir: Path) -> dict[str, Any]:
    base = {"param_count": None, "cuda": None, "gpu_name": None}
    if not plan.base_dir:
        print(f"[trainer] {plan.label}: building the base ...", flush=True)
        base = _child("prepare", replace(job, out_dir=str(workdir / "prepare")), workdir)
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "trl": []}
    for rep in range(reps):
        order = ("ours", "trl") if rep % 2 == 0 else ("trl", "ours")  # ABBA
        for runner in order:
            print(f"[trainer] {plan.label}: {runner}, run {rep + 1} of {reps} ...", flush=True)
            out_dir = str(workdir / f"{plan.size.replace('/', '_') or 'hf'}-{runner}-{rep}")
            runs[runner].append(_child(runner, replace(job, out_dir=out_dir), workdir))
    row: dict[str, Any] = {"label": plan.label, "steps": plan.steps, "base": base}
    for runner, results in runs.items():
        row[runner] = {
            "tokens_per_s": _summary([r["tokens_per_s"] for r in results]),
            "train_s": _summary([r["train_s"] for r in results]),
            "peak_rss_mb": _summary([r["peak_rss_mb"] for r in results]),
            "tokens": sorted({r["tokens"] for r in results}),
            "train_loss": statistics.median(r["train_loss"] for r in results),
            "train_cpu_s": _summary([r["train_cpu_s"] for r in results]),
            "eval_loss": statistics.median(r["eval_loss"] for r in results),
            "param_count": results[0]["param_count"],
            "trainable_param_count": results[0]["trainable_param_count"],
            "optimizer": results[0]["optimizer"],
            "runs": results,
        }
    ours, trl = row["ours"], row["trl"]
    row["ratio"] = ours["tokens_per_s"]["median"] / trl["tokens_per_s"]["median"]
    # best against best, as timeit reports: the run least disturbed by other work on the machine
    row["ratio_best"] = ours["tokens_per_s"]["max"] / trl["tokens_per_s"]["max"]
    row["same_tokens"] = len(ours["tokens"]) == 1 and ours["tokens"] == trl["tokens"]
    row["same_loss"] = all(
        abs(ours[key] - trl[key]) <= 0.02 * abs(trl[key]) for key in ("train_loss", "eval_loss")
    )
    return row


def measure_trainers(settings: TrainerSettings) -> dict[str, Any]:
    """Every CPU plan, then the GPU plans when torch sees a GPU."""
    from tests.training.rows import chat_rows  # the training tests' synthetic chat rows

    started, loadavg_before = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        workdir = Path(tmp)
        paths = {"train": workdir / "train.jsonl", "eval": workdir / "eval.jsonl"}
        for key, rows in (
            ("train", chat_rows(settings.rows)),
            ("eval", chat_rows(settings.eval_rows, seed=1)),
        ):
            paths[key].write_text("".join(json.dumps(r) + "\n" for r in rows))

        def job(plan: Plan, device: str = "cpu", dtype: str = "float32") -> Job:
            return Job(
                base_dir=plan.base_dir or str(workdir / f"base-{plan.size.replace('/', '_')}"),
                train_path=str(paths["train"]),
                eval_path=str(paths["eval"]),
                out_dir="",
                steps=plan.steps,
                batch_size=settings.batch_size,
                max_length=settings.max_length,
                threads=settings.threads,
                size=plan.size,
                device=device,
                dtype=dtype,
            )

        cpu = [_measure(p, job(p), settings.reps, workdir) for p in settings.cpu]
        gpu: list[dict[str, Any]] = []
        gpu_note: str | None = None
        if not cpu[0]["base"]["cuda"]:
            gpu_note = "GPU rows not run: no GPU here (torch.cuda.is_available() is False)"
        else:
            plans, gpu_note = _gpu_plans(settings)
            gpu = [_measure(p, job(p, "cuda", "bfloat16"), settings.reps, workdir) for p in plans]
            for row in gpu:
                row["mfu"] = _mfu(row, cpu[0]["base"]["gpu_name"])
    return {
        "settings": asdict(settings),
        "cpu": cpu,
        "gpu": gpu,
        "gpu_note": gpu_note,
        "gpu_name": cpu[0]["base"]["gpu_name"],
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "seconds": time.time() - started,
        "loadavg_before": loadavg_before,
        "loadavg_after": os.getloadavg(),
        "cpus": len(os.sched_getaffinity(0)),
        "versions": cpu[0]["ours"]["runs"][0].get("versions", {}),
    }


def _peak_tflops(gpu_name: str | None) -> tuple[float | None, str]:
    if os.environ.get("BENCH_PEAK_TFLOPS"):
        return float(os.environ["BENCH_PEAK_TFLOPS"]), "BENCH_PEAK_TFLOPS"
    for key, tflops in GPU_PEAK_TFLOPS.items():  # "H100 PCIe" is tried before "H100"
        if gpu_name and key in gpu_name:
            return tflops, f"{key} dense bf16 data-sheet peak"
    return None, f"no peak known for {gpu_name}: set BENCH_PEAK_TFLOPS"


def _mfu(row: dict[str, Any], gpu_name: str | None) -> dict[str, Any]:
    """6 · params · tokens/s over the peak: the usual estimate, which counts the full backward;
    LoRA skips the frozen weights' gradients, so the work really done is nearer 4 · params."""
    peak, source = _peak_tflops(gpu_name)
    out: dict[str, Any] = {"peak_tflops": peak, "peak_source": source}
    for runner in ("ours", "trl"):
        flops = 6 * row[runner]["param_count"] * row[runner]["tokens_per_s"]["median"]
        out[runner] = flops / (peak * 1e12) if peak else None
    return out


# -- the table ------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "✅" if ok else "❌"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.3g} %"


def _tps(s: dict[str, float]) -> str:
    return f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})"


def _rows(row: dict[str, Any], reps: int) -> list[tuple[str, ...]]:
    ours, trl, label = row["ours"], row["trl"], row["label"]
    o_rss, t_rss = ours["peak_rss_mb"]["median"], trl["peak_rss_mb"]["median"]
    same = row["same_tokens"]
    tokens = f"{ours['tokens'][0]:,}" if same else f"{ours['tokens']} vs {trl['tokens']}"
    lines: list[tuple[str, ...]] = [
        (
            f"{label}, {row['steps']} steps: tokens/s, median (min–max) of {reps}",
            _tps(ours["tokens_per_s"]),
            _tps(trl["tokens_per_s"]),
            f"{row['ratio']:.2f}× (best: {row['ratio_best']:.2f}×)",
            f"≥ {TARGET}× TRL {_met(row['ratio'] >= TARGET)}",
        ),
        (
            "  training time, median: wall (CPU time of the process)",
            f"{ours['train_s']['median']:.2f} s ({ours['train_cpu_s']['median']:.2f} s)",
            f"{trl['train_s']['median']:.2f} s ({trl['train_cpu_s']['median']:.2f} s)",
            f"{trl['train_cpu_s']['median'] / ours['train_cpu_s']['median']:.2f}× (CPU)",
            "",
        ),
        (
            "  peak RSS of the process, median",
            f"{o_rss:.0f} MB",
            f"{t_rss:.0f} MB",
            f"{t_rss / o_rss:.2f}× smaller",
            "",
        ),
        (
            "  non-padding tokens processed (each run)",
            tokens,
            f"{trl['tokens'][0]:,}" if row["same_tokens"] else "",
            "",
            f"equal work {_met(row['same_tokens'])}",
        ),
        (
            "  train loss (last 10 logged steps) / eval loss after",
            f"{ours['train_loss']:.4f} / {ours['eval_loss']:.4f}",
            f"{trl['train_loss']:.4f} / {trl['eval_loss']:.4f}",
            "",
            f"same within 2 % {_met(row['same_loss'])}",
        ),
    ]
    if "mfu" in row:
        mfu = row["mfu"]
        lines.append(("  MFU (6·N·tokens/s ÷ peak)", _pct(mfu["ours"]), _pct(mfu["trl"]), "", ""))
    return lines


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    header = ("Figure", "together-sim trainer", "TRL SFTTrainer", "ours / TRL", "Target")
    rows = [line for row in results["cpu"] + results["gpu"] for line in _rows(row, s["reps"])]
    first = results["cpu"][0]
    notes = [
        f"- Same work on both (`bench/trainer_runs.py`): one base per size, built once (seed 0, "
        f"BPE trained on the rows) and loaded from disk by both; {s['rows']} synthetic chat rows "
        f"(`tests/training/rows.py`), the same batches in the same order (TRL samples our order "
        f"sequentially), batch {s['batch_size']}, max_length {s['max_length']}, assistant-only "
        f"loss, no packing on either (TRL's packing is BFD padding-free, ours greedy); LoRA r 8, "
        f"alpha 16, dropout 0, all linear layers ({first['ours']['trainable_param_count']:,} "
        f"trainable of {first['ours']['param_count']:,} in micro); AdamW lr 1e-3, cosine, 5 % "
        f"warmup, clip 1.0; TRL's optimizer: {first['trl']['optimizer']}; gradient checkpointing "
        f"off; `torch.set_num_threads({s['threads']})` in both; fp32 on CPU, bf16 on GPU.",
        "- tokens/s = non-padding tokens of the batches ÷ wall time from just before the first "
        "step to just after the last (model load, tokenising and saving excluded); ours counts "
        "`TrainResult.token_count`, TRL `state.num_input_tokens_seen` (`non_padding`). Each run "
        "is a fresh process; the peak RSS is its `ru_maxrss`, imports included (TRL also imports "
        "datasets, pandas and pyarrow). Runs alternate ABBA; ratio = ratio of the medians, which "
        "the target is checked on (best: of the fastest runs).",
        "- Versions: " + ", ".join(f"{name} {v}" for name, v in results["versions"].items()) + ".",
        f"- Machine: {results['cpus']} CPUs; load average {results['loadavg_before'][0]:.2f} "
        f"before, {results['loadavg_after'][0]:.2f} after (other work on the machine shows in "
        f"both runners alike, as the runs alternate); this part took "
        f"{results['seconds']:.0f} s.",
    ]
    if results["gpu"]:
        peak = results["gpu"][0]["mfu"]
        notes.append(
            f"- GPU: {results['gpu_name']}; MFU = 6 · base params · tokens/s ÷ "
            f"{peak['peak_tflops']} TFLOP/s ({peak['peak_source']})."
        )
    if results["gpu_note"]:
        notes.append(f"- {results['gpu_note']}")
    return "\n".join(
        [
            "## Trainer vs TRL SFTTrainer",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---", "---:", "---:", "---:", "---"]) + "|",
            *("| " + " | ".join(r) + " |" for r in rows),
            "",
            *notes,
            "",
        ]
    )
