"""A job's tokenized dataset: the archive ``GET /fine-tunes/{id}/download-tokenized-dataset``
points to, once the job has processed its data.

Together does not publish the archive's layout, so the simulator's is its own, in the container
of every other download (a flat ``tar.zst``, ``packing.py``): ``train.jsonl`` (and
``validation.jsonl`` with a validation file), one line per example in file order, each holding
``input_ids`` and ``labels`` as the preview makes them (``preview.py``, with the job's
``train_on_inputs`` and ``max_seq_length``; a DPO example holds a chosen and a rejected pair), and
``metadata.json`` saying what was tokenized (and which lines of no format were skipped) and that
the tokenizer is the simulator's stand-in.
Each member is written to a temporary file first, so a big dataset is never held in memory.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from typing import IO, Any, BinaryIO, Final

from mock_server.files.checks.rules import DatasetFormat
from mock_server.fine_tuning.models import Job
from mock_server.fine_tuning.packing import tar_zst, tarinfo
from mock_server.fine_tuning.preview import examples, preference_rows, row, tokens_of

__all__ = ["CONTENT_TYPE", "archive_blob", "archive_name", "write_archive"]

CONTENT_TYPE: Final = "application/zstd"


def archive_blob(job_id: str) -> str:
    """The blob a job's archive is kept in once built: named here, below both the family that
    builds it and the job's delete, which removes it with the job."""
    return f"tokenized-dataset-{job_id}"


def archive_name(job: Job) -> str:
    return f"{job.id}-tokenized-dataset.tar.zst"


def _trains_inputs(job: Job) -> bool:
    """``train_on_inputs`` as the job resolved it: ``auto`` trains the prompt only of plain
    text, whose every token is trained anyway (and DPO has none)."""
    return job.train_on_inputs is True


def _write_rows(out: IO[bytes], lines: Iterable[str], job: Job) -> tuple[int, list[int]]:
    """The rows of ``lines``; how many were written, and the lines of no format, skipped."""
    count, skipped = 0, []
    for number, example, fmt in examples(lines):
        if fmt is None:
            skipped.append(number)
            continue
        if fmt is DatasetFormat.PREFERENCE:
            body: dict[str, Any] = preference_rows(example, job.max_seq_length)
        else:
            tokens = tokens_of(example, fmt, _trains_inputs(job))
            full = row(tokens, job.max_seq_length).to_json()
            body = {"input_ids": full["input_ids"], "labels": full["labels"]}
        out.write(json.dumps(body, separators=(",", ":")).encode() + b"\n")
        count += 1
    return count, skipped


def write_archive(
    fh: BinaryIO, job: Job, train: Iterable[str], validation: Iterable[str] | None
) -> None:
    """The archive of ``job``'s datasets (their lines given), into ``fh``."""
    counts: dict[str, int] = {}
    skipped: dict[str, list[int]] = {}
    with tar_zst(fh) as tar:
        for name, lines in (("train.jsonl", train), ("validation.jsonl", validation)):
            if lines is None:
                continue
            with tempfile.TemporaryFile() as member:
                counts[name], skipped[name] = _write_rows(member, lines, job)
                size = member.tell()
                member.seek(0)
                tar.addfile(tarinfo(name, size), member)
        metadata = {
            "fine_tune_id": job.id,
            "model": job.model,
            "training_file": job.training_file,
            "validation_file": job.validation_file or None,
            "max_seq_length": job.max_seq_length,
            "train_on_inputs": job.train_on_inputs,
            "packing": job.packing,
            "examples": counts,
            "skipped_lines": {name: found for name, found in skipped.items() if found},
            "tokenizer": "together-sim stand-in: not the model's own tokenizer",
        }
        data = json.dumps(metadata, indent=2).encode()
        with tempfile.TemporaryFile() as member:
            member.write(data)
            member.seek(0)
            tar.addfile(tarinfo("metadata.json", len(data)), member)
