"""``python -m mock_server.training.worker SPEC.json``: one real fine-tuning job in its own process.

The server never imports torch: its runner (``mock_server.runner``) starts this module for each
real job with the job's ``WorkerSpec`` and reads what it reports. The protocol is two pipes:

* stdout carries one JSON report per line (``mock_server.real_jobs.Report``): ``started``, then a
  ``step`` per optimizer step (with ``eval_loss`` when the step ended with an evaluation), a
  ``checkpoint`` per intermediate save, ``trained``, ``packaged`` (the outputs are tar.zst
  archives), ``uploaded`` (the archives are in place to download) — or ``stopped`` or ``failed``.
  Whatever the libraries print goes to stderr, which the runner keeps in ``worker.log``.
* stdin: a line ``stop``, or its end (the server went away), stops the run before its next step.

Bad data (rows the trainer cannot use: no token left to train on, a file that is not JSONL) is
reported as a ``user_error``, anything else as an ``error`` with the exception's message.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from mock_server.real_jobs import (
    Failed,
    Packaged,
    Saved,
    Started,
    Step,
    Stopped,
    Trained,
    Uploaded,
)
from mock_server.training.spec import WorkerSpec, fit_to_device

__all__ = ["main", "report_stream"]

Emit = Callable[[Any], None]


def report_stream() -> IO[str]:
    """The real stdout, for reports; fd 1 and ``sys.stdout`` become stderr, so a stray print from
    a library can never corrupt the report stream."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8")


def _watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


def read_rows(path: str, file_type: str) -> list[dict[str, Any]]:
    if file_type != "jsonl":
        raise ValueError(f"the real trainer reads JSONL files, not {file_type}")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number} is not JSON: {exc}") from exc
    return rows


def run(spec: WorkerSpec, emit: Emit, stop: threading.Event) -> None:
    rows = read_rows(spec.training_path, spec.training_file_type)
    eval_rows = read_rows(spec.validation_path, "jsonl") if spec.validation_path else []

    from mock_server.training import lora, models  # torch, transformers and peft: ~4 s

    device, dtype = models.pick_device(spec.config.get("device"), spec.config.get("dtype"))
    config, notes = fit_to_device(spec.config, device)
    cfg = lora.TrainConfig(**config)
    out = Path(spec.out_dir)
    clock = {"start": time.perf_counter(), "resumed": 0}
    evals: set[int] = set()
    held: list[Step] = []  # a step whose evaluation is still running

    def on_start(s: lora.StartReport) -> None:
        evals.update(lora.spread(cfg.n_evals, s.total_steps) if eval_rows else [])
        clock.update(start=time.perf_counter(), resumed=s.resumed_at)
        emit(
            Started(
                total_steps=s.total_steps,
                steps_per_epoch=s.steps_per_epoch,
                token_count=s.tokens_per_epoch * cfg.n_epochs,
                param_count=s.param_count,
                trainable_param_count=s.trainable_param_count,
                device=s.device,
                dtype=s.dtype,
                stand_in=cfg.model,
                notes=[*spec.notes, *notes],
            )
        )

    def on_step(r: lora.StepReport) -> None:
        if held:  # its evaluation never came (no usable eval row): report it without one
            emit(held.pop())
        per_step = (time.perf_counter() - clock["start"]) / max(1, r.step - clock["resumed"])
        step = Step(
            step=r.step,
            loss=r.loss,
            lr=r.lr,
            tokens=r.tokens,
            tokens_per_s=r.tokens_per_s,
            epoch=r.epoch,
            seconds_per_step=per_step,
        )
        if r.step in evals:
            held.append(step)
        else:
            emit(step)

    def on_eval(r: lora.EvalReport) -> None:
        emit(held.pop().model_copy(update={"eval_loss": r.loss}))

    def on_checkpoint(r: lora.CheckpointReport) -> None:
        emit(Saved(step=r.step, path=str(r.path)))

    result = lora.train(
        cfg,
        rows,
        eval_rows,
        out_dir=out,
        on_start=on_start,
        on_step=on_step,
        on_eval=on_eval,
        on_checkpoint=on_checkpoint,
        should_stop=stop.is_set,
    )
    if held:
        emit(held.pop())
    if result.stopped or stop.is_set():
        emit(Stopped(step=result.steps_completed))
        return
    emit(
        Trained(
            steps_completed=result.steps_completed,
            token_count=result.token_count,
            seconds=result.seconds,
        )
    )

    # Compressing: each output folder becomes a tar.zst, staged until the "upload".
    from mock_server.artifacts import pack_dir

    outputs = (
        {"model": result.model_dir}
        if cfg.full
        else {"adapter": result.adapter_dir, "merged": result.merged_dir}
    )
    staged = {}
    for name, folder in outputs.items():
        if folder is not None:
            staged[name] = out / "archives" / "staging" / f"{name}.tar.zst"
            pack_dir(folder, staged[name])
    emit(Packaged(archives={name: str(path) for name, path in staged.items()}))
    if stop.is_set():
        emit(Stopped(step=result.steps_completed))
        return

    # Uploading: the archives move to where downloads are served from, with their checksums.
    sums = []
    for path in staged.values():
        served = out / "archives" / path.name
        sums.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {served.name}\n")
        os.replace(path, served)
    (out / "archives" / "SHA256SUMS").write_text("".join(sums))
    model_dir = result.model_dir if cfg.full else result.merged_dir
    emit(
        Uploaded(
            model_path=str(model_dir or ""),
            adapter_path=str(result.adapter_dir or ""),
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # peft 0.21 asks transformers 5 for a deprecated property on every save: noise in the log.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")
    spec = WorkerSpec.model_validate_json(Path(args[0]).read_text())
    reports = report_stream()

    def emit(report: Any) -> None:
        reports.write(report.model_dump_json() + "\n")
        reports.flush()

    stop = threading.Event()
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
    try:
        run(spec, emit, stop)
    except ValueError as exc:  # the data (or a parameter) the trainer cannot use
        traceback.print_exc()
        emit(Failed(kind="user_error", message=f"Training failed: {exc}"))
    except Exception as exc:
        traceback.print_exc()
        emit(Failed(kind="error", message=f"Training failed: {type(exc).__name__}: {exc}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
