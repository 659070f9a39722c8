"""The files service: uploads becoming files, their validation, listing and deletion.

Validation is the one slow step (a big file is read line by line), so it runs once per file and
is called from a worker thread. What a file is checked with depends on its purpose: a training
set by ``check_file``'s rules here, a batch input by the batch service's own check, which is
handed in (``BatchInputCheck``) because batches sit above files and use this service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from mock_server.core.clock import Clock
from mock_server.core.errors import NotFound
from mock_server.core.ids import IdSource
from mock_server.files.checks.check import DEFAULT_RULES, Rules, check_dataset
from mock_server.files.checks.reader import MAX_LINE_BYTES
from mock_server.files.models import FilePurpose, FileRecord
from mock_server.files.uploads import Uploads
from mock_server.store import BlobStore, Store

__all__ = ["BatchInputCheck", "FileHook", "FileService"]

log = logging.getLogger("together_sim.files")

BatchInputCheck = Callable[[FileRecord, Path], FileRecord]
"""Checks a batch input file (its record and bytes on disk) and returns the checked record."""

FileHook = Callable[[FileRecord], FileRecord]
"""A scenario's say on a freshly validated file (e.g. "mark this one invalid")."""


def _unchanged(record: FileRecord) -> FileRecord:
    return record


class FileService:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        clock: Clock,
        ids: IdSource,
        *,
        check_batch_input: BatchInputCheck,
        on_validated: FileHook = _unchanged,
        max_line_bytes: int = MAX_LINE_BYTES,
        check_rules: Rules = DEFAULT_RULES,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.uploads = Uploads(store, blobs, clock, ids)
        self._check_batch_input = check_batch_input
        self._on_validated = on_validated
        self._max_line_bytes = max_line_bytes
        self._check_rules: Rules = check_rules  # whose check_file (files/checks/check.py)

    def preprocess(self, tenant: str, file_id: str) -> FileRecord:
        """Validate the file with the rules of the SDK's ``check_file`` (once; later calls are
        free). Slow for big files: call it from a worker thread."""
        record = self.store.get_file(tenant, file_id)
        if record.processed:
            return record
        if record.purpose is FilePurpose.batch_api:  # batch requests, not a training set
            checked = self._check_batch_input(record, self.blobs.path(file_id))
            return self._keep(checked)
        report = check_dataset(
            self.blobs.path(file_id),
            purpose=record.purpose.value,
            filename=record.filename,
            max_line_bytes=self._max_line_bytes,
            rules=self._check_rules,
        )
        failed = not report.is_check_passed
        validated = record.model_copy(
            update={
                "processed": True,
                "processing_status": "INVALID_FORMAT" if failed else "COMPLETED",
                "num_samples": report.num_samples,
                "token_count": report.token_count,
                "dataset_format": report.dataset_format,
                "has_weights": report.has_weights,
                "validation_report": {
                    "valid": not failed,
                    "error": (report.error or report.message) if failed else None,
                    # The spec's one category; which check failed is the SDK's own word.
                    "error_type": "INVALID_FORMAT" if failed else None,
                    "error_source": report.error_source if failed else None,
                    "line_number": report.line_number,
                    "message": report.message,
                    "dataset_format": report.dataset_format,
                    "nlines": report.num_samples,
                    "num_samples": report.num_samples,
                    "token_count": report.token_count,
                    "check": report.sdk_report(),
                },
            }
        )
        return self._keep(self._on_validated(validated))

    def _keep(self, checked: FileRecord) -> FileRecord:
        """Save a check's verdict, unless the file went meanwhile (a delete while it was being
        checked: saving would bring its record back without its bytes) or another request's
        check of it was saved first (that one stands)."""
        with self.store.transaction():
            current = self.store.get_file(checked.tenant, checked.id)
            if current.processed:
                return current
            self.store.put_file(checked)
        return checked

    def validated(self, tenant: str, file_id: str, param: str) -> FileRecord:
        """The file, validated if it was not yet; a missing one is a 404 naming ``param``."""
        try:
            record = self.store.get_file(tenant, file_id)
        except NotFound as exc:
            raise NotFound(
                "file", file_id, message=f"File {file_id} not found", param=param
            ) from exc
        return self.preprocess(tenant, file_id) if not record.processed else record

    def file(self, tenant: str, file_id: str) -> FileRecord:
        return self.store.get_file(tenant, file_id)

    def files(self, tenant: str) -> list[FileRecord]:
        return self.store.list_files(tenant)

    def delete_file(self, tenant: str, file_id: str) -> FileRecord:
        # Record first: a crash between the two leaves bytes nothing lists, never a listed file
        # without its bytes.
        record = self.store.delete_file(tenant, file_id)
        self.blobs.delete(file_id)
        return record

    def remove_orphaned_parts(self) -> None:
        """Drop the parts of uploads the store no longer knows (finished, aborted, or cut off by
        a kill mid-upload) and interrupted writes: left alone, each stays on disk for good. Only
        at startup, before a request can begin a part the store has no session for yet."""
        removed = self.blobs.remove_orphaned_parts(set(self.store.list_upload_ids()))
        if removed:
            log.info("removed %d orphaned upload part(s)", removed)
