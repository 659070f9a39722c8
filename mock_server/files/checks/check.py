"""Server-side validation of uploaded fine-tuning datasets.

Holds :func:`check_dataset`, which the upload route runs on every stored file: the file-level
checks (found, size, extension, purpose, CSV and Parquet) around the per-line JSONL rules of
``jsonl.py`` and ``rules.py``, ending in a ``report.CheckReport``. The rules and their exact
message texts are those of the Together SDK's ``check_file`` (together 1.5.35,
``together/utils/files.py``; see ``lora-and-semantics.md`` §6.7): a file the SDK accepts must be
accepted here and vice versa, with the same words, so a client cannot tell the simulator from the
real service.

Where this module departs from the SDK, it is on purpose:

* It streams, and fast. A JSONL file is read in megabyte chunks of raw lines (``reader.py``); the
  usual lines are decoded by msgspec, a chunk at a time, straight into typed shapes
  (``shapes.py``), and the tokens of their contents counted in bulk from the raw JSON
  (``bulk_tokens.py``); only a line that does not fit goes through the exact checks, and only a
  file that is not UTF-8 is decoded again to find the SDK's error position. Memory stays near a
  few megabytes whatever the file.
* It refuses a line longer than ``max_line_bytes`` (``reader.MAX_LINE_BYTES``, 7 MiB unless
  configured; error source ``line_length``, naming the line and the limit), where the SDK, which
  has no limit, would read it whole. That is the one verdict in which the two can differ.
* Paths in messages are the name the user uploaded (``filename``), not the server's storage path.
* Where the SDK fails but leaves ``message`` as "Checks passed" (missing file, unknown extension,
  Parquet errors), :attr:`CheckReport.error` still says why, so the server can always explain.
* Where the SDK would crash (a CSV the ``csv`` module cannot parse, an unreadable Parquet file
  that pyarrow reports with something other than ``ArrowInvalid``, JSON nested beyond the
  recursion limit), this module reports the error the SDK's nearest branch would have reported.
"""

from __future__ import annotations

import csv
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO

from mock_server.core.tokens import count_tokens
from mock_server.files.checks import report
from mock_server.files.checks.jsonl import scan_jsonl
from mock_server.files.checks.reader import MAX_LINE_BYTES, LineTooLong, iter_lines, utf8_error
from mock_server.files.checks.report import CHECKS_PASSED, CheckReport, unknown_extension
from mock_server.files.checks.rules import DatasetFormat

__all__ = ["check_dataset"]

# The SDK's (together/constants.py).
MIN_SAMPLES = 1
PARQUET_COLUMNS = ["input_ids", "attention_mask", "labels"]  # a list: the SDK prints its repr
# The SDK's FilePurpose enum formats as its repr inside f-strings ("FilePurpose.FineTune").
_SDK_PURPOSES = {
    "fine-tune": "FilePurpose.FineTune",
    "batch-api": "FilePurpose.BatchAPI",
    "eval": "FilePurpose.Eval",
    "eval-output": "FilePurpose.EvalOutput",
}


@dataclass
class _Scan:
    """The mutable state of one file's content check."""

    filetype: str
    failed: bool = False
    message: str = CHECKS_PASSED
    error: str | None = None
    error_source: str | None = None
    line_number: int | None = None
    dataset_format: DatasetFormat | None = None
    num_samples: int = 0
    token_count: int = 0
    has_weights: bool = False

    def fail(
        self,
        message: str,
        source: str | None,
        line_number: int | None = None,
        *,
        error: str | None = None,
    ) -> None:
        self.failed = True
        self.message = message
        self.error = error if error is not None else message
        self.error_source = source
        self.line_number = line_number


def check_dataset(
    path: Path,
    *,
    purpose: str = "fine-tune",
    filename: str | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> CheckReport:
    """Check the dataset stored at ``path``, as the SDK's ``check_file`` would.

    ``filename`` is the name the user uploaded: its extension picks the rules (the stored file
    may have none) and it stands for the file in messages. ``purpose`` is the upload purpose.
    A plain function with no shared state: the server runs it in a worker thread.
    """
    name = filename if filename is not None else str(path)
    if not path.is_file():  # F1: the SDK says nothing but found=False
        return CheckReport(
            is_check_passed=False,
            message=CHECKS_PASSED,
            error_source="found",
            error=f"No file found for {name}.",
            filename=name,
        )
    size = path.stat().st_size
    if size == 0:  # F3
        return CheckReport(
            is_check_passed=False,
            message="File is empty",
            error_source="file_size",
            error="File is empty",
            filename=name,
        )

    suffix = PurePath(name).suffix  # case-sensitive, like the SDK: ".JSONL" is unknown
    if suffix == ".jsonl":
        scan = _scan_jsonl(path, purpose, name, max_line_bytes)
    elif suffix == ".csv":
        scan = _scan_csv(path, purpose, name, max_line_bytes)
    elif suffix == ".parquet":
        scan = _scan_parquet(path, purpose, name)
    else:  # F4: the SDK hides the reason in `filetype` and keeps "Checks passed"
        scan = _Scan(filetype="")
        scan.fail(CHECKS_PASSED, "filetype", error=unknown_extension(name))

    # Read through the module, so that a test can lower the limit for both this and sdk_report.
    if size > report.MAX_FILE_SIZE_BYTES:
        # F2. The SDK notes the size, runs the content checks anyway, and lets any message they
        # set overwrite its own.
        too_big = (
            f"Maximum supported file size is {report.MAX_FILE_SIZE_GB} GB. "
            f"Found file with size of {round(size / report.NUM_BYTES_IN_GB, 3)} GB."
        )
        if not scan.failed:
            scan.fail(too_big, "file_size")
        elif scan.message == CHECKS_PASSED:
            scan.message = too_big

    return CheckReport(
        is_check_passed=not scan.failed,
        message=scan.message,
        line_number=scan.line_number,
        error_source=scan.error_source,
        dataset_format=scan.dataset_format,
        num_samples=scan.num_samples,
        file_size=size,
        filetype=scan.filetype,
        token_count=scan.token_count,
        has_weights=scan.has_weights,
        error=scan.error if scan.failed else None,
        filename=name,
    )


def _sdk_purpose(purpose: str) -> str:
    return _SDK_PURPOSES.get(purpose, purpose)


def _scan_text(
    path: Path,
    filetype: str,
    body: Callable[[Iterator[str], _Scan], None],
    max_line_bytes: int,
) -> _Scan:
    """Run ``body`` over the lines of a text file, giving encoding errors precedence.

    The SDK decodes the whole file before it looks at the content, so an encoding error anywhere
    outranks a content error on an earlier line: after ``body`` stops, the rest of the file is
    still decoded (F6).
    """
    scan = _Scan(filetype=filetype)
    with path.open("rb") as fh:
        lines = iter_lines(fh, max_line_bytes)
        try:
            body(lines, scan)
            for _ in lines:
                pass
        except LineTooLong as exc:
            fh.seek(0)
            scan = _not_utf8(fh, filetype) or scan
            if not scan.failed:
                scan.fail(exc.message, "line_length", exc.line_number)
        except UnicodeDecodeError as exc:
            scan = _Scan(filetype=filetype)
            scan.fail(f"File is not UTF-8 encoded. Error raised: {exc}.", "utf8")
    return scan


def _not_utf8(fh: BinaryIO, filetype: str) -> _Scan | None:
    """The failed scan of a file that is not UTF-8 (read from ``fh``'s start), or None. It
    counts nothing: the SDK reports nothing else then."""
    error = utf8_error(fh)
    if error is None:
        return None
    scan = _Scan(filetype=filetype)
    scan.fail(f"File is not UTF-8 encoded. Error raised: {error}.", "utf8")
    return scan


def _check_min_samples(scan: _Scan, name: str) -> None:
    # S1. Unreachable for a non-empty JSONL file; a CSV with only a header gets here.
    if scan.num_samples < MIN_SAMPLES:
        scan.fail(
            f"Processing {name} resulted in only {scan.num_samples} samples. "
            f"Our minimum is {MIN_SAMPLES} samples. ",
            "has_min_samples",
        )


def _scan_jsonl(path: Path, purpose: str, name: str, max_line_bytes: int) -> _Scan:
    scan = _Scan(filetype="jsonl")
    with path.open("rb") as fh:
        # For evaluation files the SDK only requires each line to be a JSON object.
        tally = scan_jsonl(fh, check_format=purpose != "eval", max_line_bytes=max_line_bytes)
        if tally.undecodable or tally.violation is not None:
            # The scan stopped early; an encoding error further on still outranks its reason.
            fh.seek(0)
            if (failed := _not_utf8(fh, "jsonl")) is not None:
                return failed
    if tally.undecodable:  # pragma: no cover - a line that is not UTF-8 makes the file fail
        raise AssertionError("a line was not UTF-8 but the file is")
    scan.num_samples = tally.num_samples
    scan.token_count = tally.token_count
    scan.has_weights = tally.has_weights
    if tally.violation is not None:  # the first error stops the scan
        violation = tally.violation
        scan.fail(violation.message, violation.source, violation.line_number)
        return scan
    scan.dataset_format = tally.dataset_format
    _check_min_samples(scan, name)
    return scan


def _scan_csv(path: Path, purpose: str, name: str, max_line_bytes: int) -> _Scan:
    if purpose != "eval":  # F5
        scan = _Scan(filetype="csv")
        scan.fail(
            f"CSV files are not supported for {_sdk_purpose(purpose)}. "
            "Only JSONL and Parquet files are supported.",
            "purpose",
        )
        return scan

    def body(lines: Iterator[str], scan: _Scan) -> None:
        reader = csv.DictReader(lines)
        row_number = 0  # the last row read; the SDK's idx + 1
        try:
            if not reader.fieldnames:
                scan.fail("CSV file is empty or has no header.", "header")
                return
            for row_number, row in enumerate(reader, 1):
                # Extra fields land under the key None, missing ones get the value None.
                if None in row or None in row.values():
                    scan.fail(
                        "CSV file is malformed or the number of columns found on line "
                        f"{row_number} is inconsistent with the header",
                        "format",
                        row_number,
                    )
                    return
                scan.num_samples += 1
                scan.token_count += sum(count_tokens(value) for value in row.values())
        except csv.Error:
            # The SDK catches only ValueError here, so csv.Error would crash it; report what
            # its ValueError branch says.
            scan.fail(
                "Unable to decode file. File may be empty or in an unsupported format. "
                if row_number == 0
                else f"Error parsing the CSV file. Unexpected format on line {row_number}.",
                "load_csv",
            )
            return
        _check_min_samples(scan, name)

    return _scan_text(path, "csv", body, max_line_bytes)


def _scan_parquet(path: Path, purpose: str, name: str) -> _Scan:
    scan = _Scan(filetype="parquet")
    if purpose == "eval":
        scan.fail(
            f"Parquet files are not supported for {_sdk_purpose(purpose)}. "
            "Only JSONL and CSV files are supported.",
            "purpose",
        )
        return scan

    # Imported here: pyarrow is an optional extra and heavy; the server must start without it.
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    # The SDK loads the whole table; reading it batch by batch finds the same corruption while
    # holding one row group at a time. The SDK's messages for Parquet errors go to the
    # `load_parquet` key and leave `message` as "Checks passed".
    try:
        with pq.ParquetFile(path) as parquet_file:
            columns: list[str] = list(parquet_file.schema_arrow.names)
            num_rows = int(parquet_file.metadata.num_rows)
            tokens = 0
            for batch in parquet_file.iter_batches():
                if "input_ids" not in columns:
                    continue
                input_ids = batch.column("input_ids")
                kind = input_ids.type
                # The token count is the total length of the id lists (nulls count 0). The SDK
                # does not check the column's type, and neither does this; a non-list column
                # simply adds no tokens.
                if (
                    pa.types.is_list(kind)
                    or pa.types.is_large_list(kind)
                    or pa.types.is_fixed_size_list(kind)
                ):
                    tokens += int(pc.sum(pc.list_value_length(input_ids)).as_py() or 0)
    except (pa.ArrowException, OSError, ValueError) as exc:
        # The SDK appends the full traceback; the exception line alone says the same without
        # exposing the server's paths.
        reason = "".join(traceback.format_exception_only(exc))
        scan.fail(
            CHECKS_PASSED,
            "load_parquet",
            error=f"An exception has occurred when loading the Parquet file {name}. Please check "
            f"the file for corruption. Exception trace:\n{reason}",
        )
        return scan

    if "input_ids" not in columns:
        scan.fail(
            CHECKS_PASSED,
            "load_parquet",
            error=f"Parquet file {name} does not contain the `input_ids` column.",
        )
        return scan
    for column in columns:
        if column not in PARQUET_COLUMNS:
            scan.fail(
                CHECKS_PASSED,
                "load_parquet",
                error=f"Parquet file {name} contains an unexpected column {column}. "
                f"Only columns {PARQUET_COLUMNS} are supported.",
            )
            return scan
    scan.num_samples = num_rows
    scan.token_count = tokens
    _check_min_samples(scan, name)
    return scan
