"""``python -m mock_server.training.worker SPEC.json``: one real fine-tuning job in its own process.

The server never imports torch: its runner (``mock_server.real_training.runner``) starts this
module for each real job with the job's ``WorkerSpec`` and reads what it reports. The protocol
is two pipes:

* stdout carries one JSON report per line (``mock_server.fine_tuning.reports.Report``):
  ``started``, then a ``step`` per optimizer step (with ``eval_loss`` when the step ended with
  an evaluation), a ``checkpoint`` per intermediate save, ``trained``, ``packaged`` (the
  outputs are tar.zst archives), ``uploaded`` (the archives are in place to download) — or
  ``stopped`` or ``failed``.
  Whatever the libraries print goes to stderr, which the runner keeps in ``worker.log``.
* stdin: a line ``stop``, or its end (the server went away), stops the run before its next step.

The spec says where a run starts: the base (or, for ``from_checkpoint``, the parent's base and
weights, linked into the job's folder so they outlive the parent), a checkpoint to resume from
exactly after a server restart, or ``phase: package`` to pack the final outputs again.

Bad data (rows the trainer cannot use: no token left to train on, a file neither JSONL nor Parquet,
token ids the base has no embedding for) and a
base model that is not on this machine (``bases.locate``, checked before torch is imported, so it
fails within a second) are reported as a ``user_error``, anything else as an ``error`` with the
exception's message.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from mock_server.fine_tuning.reports import (
    Failed,
    Packaged,
    Saved,
    Started,
    Step,
    Stopped,
    Trained,
    Uploaded,
)
from mock_server.training import bases, pretokenized
from mock_server.training.spec import TRAINER_STATE, WorkerSpec, fit_to_device

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
    """A dataset's rows: JSONL objects, or Parquet rows (told by the file's magic bytes as well
    as by its declared type) as ``{input_ids, attention_mask, labels}``."""
    if file_type == "parquet" or pretokenized.is_parquet(path):
        return pretokenized.read_parquet(path)
    if file_type != "jsonl":
        raise ValueError(f"the real trainer reads JSONL and Parquet files, not {file_type}")
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


def locate_base(spec: WorkerSpec) -> tuple[str, list[str]]:
    """``TrainConfig.model`` for the job's base (a tiny size, or the directory of a pretrained
    base), recorded in the job's folder, and a note saying where a pretrained one was found."""
    out, base = Path(spec.out_dir), spec.base
    if base.is_tiny:
        bases.record(out, out / "base", base)
        return base.ref, []
    folder = bases.locate(base, Path(spec.models_dir) if spec.models_dir else out / "models")
    bases.record(out, folder, base)
    return str(folder), [f"base model weights loaded from {folder}"]


def inherit_base(spec: WorkerSpec) -> tuple[str, list[str]]:
    """``TrainConfig.model`` for a from_checkpoint job: the parent's base linked into the job's
    folder, with a full parent's weights over it, and the parent's adapter linked to ``init/``.
    A restarted worker finds both in place."""
    init, out = spec.init_from, Path(spec.out_dir)
    assert init is not None
    base = out / "base"
    if not (base / "config.json").is_file():
        scratch = out / "base.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        _link_files(Path(init.base_dir), scratch)
        if init.kind == "model":
            _link_files(Path(init.weights), scratch)
        os.replace(scratch, base)
    if init.kind == "adapter":
        _link_files(Path(init.weights), out / "init")
    bases.record(out, base, init.base)
    return str(base), []


def _link_files(src: Path, dst: Path) -> None:
    """Hard links to the files of ``src`` in ``dst`` (copies across file systems); a file already
    there is replaced, never written into, since it may be a link to the parent's."""
    if not src.is_dir():
        raise ValueError(f"the checkpoint's files are gone ({src})")
    dst.mkdir(parents=True, exist_ok=True)
    for file in src.iterdir():
        if file.is_file() and file.name != TRAINER_STATE:
            (dst / file.name).unlink(missing_ok=True)
            try:
                os.link(file, dst / file.name)
            except OSError:
                shutil.copy2(file, dst / file.name)


def _parquet_note(spec: WorkerSpec, rows: list[dict[str, Any]]) -> str:
    if spec.base.is_tiny and spec.init_from is None:
        return (
            f"the Parquet rows hold token ids of {spec.config['base_model_name']}'s tokenizer, "
            f"which the '{spec.base.ref}' stand-in lacks: it gets one embedding per distinct id "
            f"({len(pretokenized.distinct_ids(rows))}, in id order, listed in base/"
            f"{pretokenized.TOKEN_MAP}); chat on the result cannot be read as text"
        )
    return (
        "the Parquet rows' token ids are used as they are: the base's tokenizer must have made them"
    )


def run(spec: WorkerSpec, emit: Emit, stop: threading.Event) -> None:
    if spec.phase == "package":
        package_again(spec, emit)
        return
    rows = read_rows(spec.training_path, spec.training_file_type)
    eval_rows = read_rows(spec.validation_path, "jsonl") if spec.validation_path else []
    out = Path(spec.out_dir)
    model, base_notes = locate_base(spec) if spec.init_from is None else inherit_base(spec)
    adapter = spec.init_from is not None and spec.init_from.kind == "adapter"
    if pretokenized.is_pretokenized(rows):  # (mixed with a JSONL eval file: lora.train refuses)
        both = pretokenized.is_pretokenized(eval_rows)
        base_notes.append(_parquet_note(spec, [*rows, *eval_rows] if both else rows))

    from mock_server.training import lora, models, reports  # torch, transformers and peft: ~4 s
    from mock_server.training.config import TrainConfig, spread

    device, dtype = models.pick_device(spec.config.get("device"), spec.config.get("dtype"))
    config, notes = fit_to_device({**spec.config, "model": model}, device)
    notes = [*base_notes, *notes]
    cfg = TrainConfig(**config)
    clock = {"start": time.perf_counter(), "resumed": 0}
    evals: set[int] = set()
    held: list[Step] = []  # a step whose evaluation is still running

    def on_start(s: reports.StartReport) -> None:
        evals.update(spread(cfg.n_evals, s.total_steps) if eval_rows else [])
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
                threads=s.threads,
                stand_in=spec.base.ref,
                notes=[*spec.notes, *notes],
                init_from=spec.init_from.checkpoint if spec.init_from else "",
                restarted=spec.restarted,
            )
        )

    def on_step(r: reports.StepReport) -> None:
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

    def on_eval(r: reports.EvalReport) -> None:
        emit(held.pop().model_copy(update={"eval_loss": r.loss}))

    def on_checkpoint(r: reports.CheckpointReport) -> None:
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
        resume_from=Path(spec.resume_from) if spec.resume_from else None,
        init_adapter=out / "init" if adapter else None,
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

    outputs = (
        {"model": result.model_dir}
        if cfg.full
        else {"adapter": result.adapter_dir, "merged": result.merged_dir}
    )
    packaged = pack(out, {name: folder for name, folder in outputs.items() if folder})
    emit(packaged)
    if stop.is_set():
        emit(Stopped(step=result.steps_completed))
        return
    emit(upload(out, packaged, outputs))


def package_again(spec: WorkerSpec, emit: Emit) -> None:
    """Compressing and uploading once more, from the final outputs a training left on disk (the
    server restarted while they were being packed)."""
    out = Path(spec.out_dir)
    names = ("model",) if spec.config.get("full") else ("adapter", "merged")
    outputs = {n: out / n for n in names if any((out / n).glob("*.safetensors"))}
    if names[0] not in outputs:
        raise RuntimeError(f"the final {names[0]} of the training is gone from {out}")
    packaged = pack(out, outputs)
    emit(packaged)
    emit(upload(out, packaged, outputs))


def pack(out: Path, outputs: Mapping[str, Path]) -> Packaged:
    """Compressing: each output folder becomes a tar.zst, staged until the "upload"."""
    from mock_server.fine_tuning.packing import pack_dir

    staged = {name: out / "archives" / "staging" / f"{name}.tar.zst" for name in outputs}
    for name, folder in outputs.items():
        pack_dir(folder, staged[name])
    return Packaged(archives={name: str(path) for name, path in staged.items()})


def upload(out: Path, packaged: Packaged, outputs: Mapping[str, Path | None]) -> Uploaded:
    """Uploading: the archives move to where downloads are served from, with their checksums."""
    sums = []
    for staged in map(Path, packaged.archives.values()):
        served = out / "archives" / staged.name
        sums.append(f"{hashlib.sha256(staged.read_bytes()).hexdigest()}  {served.name}\n")
        os.replace(staged, served)
    (out / "archives" / "SHA256SUMS").write_text("".join(sums))
    model_dir = outputs.get("model") or outputs.get("merged")
    return Uploaded(model_path=str(model_dir or ""), adapter_path=str(outputs.get("adapter") or ""))


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
