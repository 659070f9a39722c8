"""Uploaded files: the record the API shows, and the upload sessions that lead to one.

A file becomes visible only when its bytes are complete: ``POST /files`` opens an
``UploadSession`` and answers a redirect; the ``PUT`` that follows streams into a ``.part`` file
and, once the size and checksum check out, the store turns the session into a ``FileRecord``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict

from mock_server.core.lazy_model import LazyModel
from mock_server.core.timefmt import unix

__all__ = [
    "FilePurpose",
    "FileRecord",
    "FileType",
    "UploadSession",
    "generated_jsonl",
    "render_file",
]


class FilePurpose(StrEnum):
    fine_tune = "fine-tune"
    eval = "eval"
    eval_sample = "eval-sample"
    eval_output = "eval-output"
    eval_summary = "eval-summary"
    batch_generated = "batch-generated"
    batch_api = "batch-api"


class FileType(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


ProcessingStatus = Literal["PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "INVALID_FORMAT"]


class FileRecord(LazyModel):
    model_config = ConfigDict(frozen=True)

    id: str
    tenant: str
    filename: str
    bytes: int
    created_at: datetime
    purpose: FilePurpose
    file_type: FileType
    sha256: str
    processed: bool = False
    processing_status: ProcessingStatus = "PENDING"
    validation_report: dict[str, Any] | None = None
    # What the validation measured, used by jobs created from the file.
    num_samples: int = 0
    token_count: int = 0
    dataset_format: str | None = None
    has_weights: bool = False

    @property
    def valid(self) -> bool:
        return self.processing_status == "COMPLETED"


def render_file(record: FileRecord) -> dict[str, Any]:
    """A ``FileResponse`` both client generations accept: ``type`` for 1.5.x, ``FileType`` for
    the spec and 3.x, ``created_at`` as unix seconds."""
    body: dict[str, Any] = {
        "id": record.id,
        "object": "file",
        "created_at": unix(record.created_at),
        "filename": record.filename,
        "bytes": record.bytes,
        "purpose": record.purpose.value,
        "FileType": record.file_type.value,
        "type": record.file_type.value,
        "Processed": record.processed,
        "processing_status": record.processing_status,
        "line_count": record.num_samples,
    }
    if record.validation_report is not None:
        # The August spec's FileValidationReport types each field it has (``error`` a string):
        # one that does not apply is left out, not sent as null.
        report = record.validation_report
        body["validation_report"] = {k: v for k, v in report.items() if v is not None}
    return body


class UploadSession(LazyModel):
    """An upload that has been announced but whose bytes have not all arrived."""

    model_config = ConfigDict(frozen=True)

    file_id: str
    tenant: str
    token: str
    filename: str
    purpose: FilePurpose
    file_type: FileType
    checksum: str | None = None
    created_at: datetime
    # Multipart uploads (files above 5 GiB): the parts announced at initiate.
    upload_id: str | None = None
    num_parts: int = 0
    file_size: int | None = None


def generated_jsonl(
    *,
    file_id: str,
    tenant: str,
    filename: str,
    lines: list[str],
    created_at: datetime,
    purpose: FilePurpose,
) -> tuple[FileRecord, bytes]:
    """A JSONL file the server writes itself (batch output, evaluation results): its bytes and
    its record, already processed, for the caller to store together."""
    data = "".join(line + "\n" for line in lines).encode()
    record = FileRecord(
        id=file_id,
        tenant=tenant,
        filename=filename,
        bytes=len(data),
        created_at=created_at,
        purpose=purpose,
        file_type=FileType.jsonl,
        sha256=hashlib.sha256(data).hexdigest(),
        processed=True,
        processing_status="COMPLETED",
        num_samples=len(lines),
    )
    return record, data
