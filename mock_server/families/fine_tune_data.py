"""What SDK 3.1.1 shows of a fine-tuning dataset as the model sees it: ``POST /fine-tunes/preview``
(``client.fine_tuning.preview``, ``tg fine-tuning preview``) and a job's tokenized dataset
(``GET /fine-tunes/{id}/download-tokenized-dataset``, ``client.fine_tuning
.retrieve_tokenized_dataset``, ``tg fine-tuning download-tokenized-dataset``).

The preview reads the real uploaded file after the checks a create makes of it: the file must be
the tenant's (404 naming ``training_file``), a validated ``fine-tune`` file whose check passed,
and not a preference set (SFT only: 400s naming ``training_file``), and the model one the
service fine-tunes (404 naming ``model``); its first ``top_k`` examples are tokenized by
``fine_tuning/preview.py`` up to the model's SFT ``max_seq_length``. What the file check's
newest rules let through is previewed as it is (a ``human`` turn is simply not trained); a line
of no SFT format, or rows of mixed formats, is a 400 naming ``training_file`` and the line. Only
JSONL files are previewed (a Parquet file is already tokenized: a 400).

The tokenized dataset exists once the job has started training (its ``training_start`` event):
before that, or for a job whose training file has since been deleted, a 404 naming ``id``. The
answer is a signed URL on this server (``/_downloads``, no key, like a presigned one) to the
archive ``fine_tuning/tokenized.py`` writes (lines of no format skipped, and listed in its
metadata), built on the first ask and kept beside the blobs; ``size`` is its length, which the CLI
checks the download against.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from mock_server.core.errors import InvalidRequest, NotFound
from mock_server.core.timefmt import iso
from mock_server.families.base import Call, Operation
from mock_server.families.engine import Resources
from mock_server.files.checks.reader import iter_lines
from mock_server.files.checks.rules import DatasetFormat
from mock_server.files.downloads import Download, signed_url
from mock_server.files.models import FileType
from mock_server.fine_tuning.create import check_datasets, find_entry
from mock_server.fine_tuning.events import EventType
from mock_server.fine_tuning.models import Job
from mock_server.fine_tuning.packing import write_atomically
from mock_server.fine_tuning.preview import examples, row, tokens_of
from mock_server.fine_tuning.tokenized import (
    CONTENT_TYPE,
    archive_blob,
    archive_name,
    write_archive,
)

__all__ = ["DOWNLOADS", "OPERATIONS"]

KIND: Final = "tokenized-dataset"
URL_LIFETIME: Final = timedelta(hours=1)  # what ``expires_at`` says; the URL itself never expires


def preview_fine_tune(resources: Resources, call: Call) -> Any:
    request = call.json()
    train = resources.files.validated(call.tenant, request["training_file"], "training_file")
    check_datasets(train, None, dpo=False)
    if train.file_type is not FileType.jsonl:
        raise InvalidRequest(
            f"File {train.id} is {train.file_type.value}: the preview tokenizes JSONL files",
            param="training_file",
        )
    entry = find_entry(request["model"])
    train_on_inputs = bool(request.get("train_on_inputs", False))
    rows = []
    formats = set()
    with resources.blobs.open_read(train.id) as fh:
        for number, example, fmt in examples(iter_lines(fh), request.get("top_k", 5)):
            if fmt is None or fmt is DatasetFormat.PREFERENCE:
                raise InvalidRequest(
                    f"Line {number} of {train.id} is no SFT example (text, messages, or prompt "
                    "and completion): the preview tokenizes SFT datasets",
                    param="training_file",
                )
            formats.add(fmt)
            rows.append(row(tokens_of(example, fmt, train_on_inputs), entry.max_seq_length_sft))
    if len(formats) > 1:
        raise InvalidRequest(
            f"The rows of {train.id} mix dataset formats ({', '.join(sorted(formats))})",
            param="training_file",
        )
    return {
        "model": entry.name,
        "dataset_format": formats.pop().value if formats else train.dataset_format or "general",
        "max_seq_length": entry.max_seq_length_sft,
        "train_on_inputs": train_on_inputs,
        "rows": [r.to_json() for r in rows],
    }


def _job(resources: Resources, tenant: str, job_id: str) -> Job:
    try:
        return resources.jobs.job(tenant, job_id)
    except NotFound as exc:
        raise NotFound(
            "fine_tune", job_id, message=f"Fine-tune job {job_id} not found", param="id"
        ) from exc


_BUILDING: dict[str, threading.Lock] = {}  # a lock per job whose archive is being built
_BUILDING_GUARD = threading.Lock()


@contextmanager
def _building(job_id: str) -> Iterator[None]:
    """One build of a job's archive at a time: simultaneous first asks wait for the one build
    and then find its archive, rather than each tokenizing the whole dataset again."""
    with _BUILDING_GUARD:
        lock = _BUILDING.setdefault(job_id, threading.Lock())
    try:
        with lock:
            yield
    finally:
        with _BUILDING_GUARD:
            if not lock.locked():
                _BUILDING.pop(job_id, None)


def _archive(resources: Resources, job: Job) -> Path:
    """The job's archive, written on the first ask (in a worker thread: the families' routes
    run every action and download off the event loop) and kept until the job is deleted
    (``fine_tuning/moving.py``) or the simulator reset (the blob store is emptied)."""
    path = resources.blobs.path(archive_blob(job.id))
    if path.is_file():
        return path
    with _building(job.id):
        if not path.is_file():  # not built by the ask this one waited for
            _build(resources, job, path)
    return path


def _build(resources: Resources, job: Job, path: Path) -> None:
    sources = [job.training_file, *([job.validation_file] if job.validation_file else [])]
    if not all(resources.blobs.exists(file_id) for file_id in sources):
        raise NotFound(
            "tokenized_dataset",
            job.id,
            message=f"The datasets of {job.id} were deleted: there is no tokenized dataset",
            param="id",
        )
    with resources.blobs.open_read(job.training_file) as train:
        if not job.validation_file:
            write_atomically(path, lambda fh: write_archive(fh, job, iter_lines(train), None))
            return
        with resources.blobs.open_read(job.validation_file) as valid:
            lines = iter_lines(valid)
            write_atomically(path, lambda fh: write_archive(fh, job, iter_lines(train), lines))


def download_tokenized_dataset(resources: Resources, call: Call) -> Any:
    job = _job(resources, call.tenant, call.path["id"])
    events = resources.jobs.events(call.tenant, job.id)
    if not any(e.type is EventType.training_start for e in events):
        raise NotFound(
            "tokenized_dataset",
            job.id,
            message=f"Job {job.id} is {job.status.value}: its dataset is tokenized when training "
            "starts",
            param="id",
        )
    path = _archive(resources, job)
    name = archive_name(job)
    return {
        "url": signed_url(resources.store, call.base_url, call.tenant, KIND, job.id, name),
        "filename": name,
        "size": path.stat().st_size,
        "content_type": CONTENT_TYPE,
        "expires_at": iso(resources.now() + URL_LIFETIME),
    }


def tokenized_download(resources: Resources, tenant: str, job_id: str, name: str) -> Download:
    job = _job(resources, tenant, job_id)
    if name != archive_name(job):
        raise NotFound("download", name, message="The download URL is invalid")
    return Download(_archive(resources, job), CONTENT_TYPE)


OPERATIONS = [
    Operation("POST /fine-tunes/preview", preview_fine_tune),
    Operation(
        "GET /fine-tunes/{id}/download-tokenized-dataset",
        download_tokenized_dataset,
        name="retrieve_tokenized_dataset",
    ),
]

DOWNLOADS = {KIND: tokenized_download}
