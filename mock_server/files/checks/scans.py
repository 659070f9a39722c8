"""The content checks of one dataset file, by its type: JSONL (the lines go through ``jsonl.py``
and ``rules.py``), CSV and Parquet, each giving a :class:`Scan` (the mutable state of one file's
check) that ``check.check_dataset`` turns into the report. Kept apart from ``check.py``, which
holds the checks of the file itself (found, size, extension) and picks the scan, because these
are the parts that read the content: the streaming, the precedence of an encoding error over a
content error (F6), the purpose checks of CSV and Parquet (F5) and the minimum sample count (S1).
The messages are the SDK's, in the rule set ``check.py`` names (``report.Rules``).
"""

from __future__ import annotations

import csv
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mock_server.core.tokens import count_tokens
from mock_server.files.checks.jsonl import scan_jsonl
from mock_server.files.checks.reader import LineTooLong, iter_lines, utf8_error
from mock_server.files.checks.report import CHECKS_PASSED, Rules
from mock_server.files.checks.rules import DatasetFormat

__all__ = ["Scan", "scan_csv_file", "scan_jsonl_file", "scan_parquet_file"]

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
class Scan:
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


def _sdk_purpose(purpose: str, rules: Rules) -> str:
    """The purpose as the SDK prints it: 1.5.35's is an enum (its repr), 3.1.1's a string."""
    return purpose if rules == "3.1.1" else _SDK_PURPOSES.get(purpose, purpose)


def _scan_text(
    path: Path,
    filetype: str,
    body: Callable[[Iterator[str], Scan], None],
    max_line_bytes: int,
) -> Scan:
    """Run ``body`` over the lines of a text file, giving encoding errors precedence.

    The SDK decodes the whole file before it looks at the content, so an encoding error anywhere
    outranks a content error on an earlier line: after ``body`` stops, the rest of the file is
    still decoded (F6).
    """
    scan = Scan(filetype=filetype)
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
            scan = Scan(filetype=filetype)
            scan.fail(f"File is not UTF-8 encoded. Error raised: {exc}.", "utf8")
    return scan


def _not_utf8(fh: BinaryIO, filetype: str) -> Scan | None:
    """The failed scan of a file that is not UTF-8 (read from ``fh``'s start), or None. It
    counts nothing: the SDK reports nothing else then."""
    error = utf8_error(fh)
    if error is None:
        return None
    scan = Scan(filetype=filetype)
    scan.fail(f"File is not UTF-8 encoded. Error raised: {error}.", "utf8")
    return scan


def _check_min_samples(scan: Scan, name: str) -> None:
    # S1. Unreachable for a non-empty JSONL file; a CSV with only a header gets here.
    if scan.num_samples < MIN_SAMPLES:
        scan.fail(
            f"Processing {name} resulted in only {scan.num_samples} samples. "
            f"Our minimum is {MIN_SAMPLES} samples. ",
            "has_min_samples",
        )


def scan_jsonl_file(
    path: Path, purpose: str, name: str, max_line_bytes: int, *, lenient: bool
) -> Scan:
    scan = Scan(filetype="jsonl")
    with path.open("rb") as fh:
        # For evaluation files the SDK only requires each line to be a JSON object.
        tally = scan_jsonl(
            fh, check_format=purpose != "eval", max_line_bytes=max_line_bytes, lenient=lenient
        )
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


def scan_csv_file(path: Path, purpose: str, name: str, max_line_bytes: int, rules: Rules) -> Scan:
    if purpose != "eval":  # F5
        scan = Scan(filetype="csv")
        scan.fail(
            f"CSV files are not supported for {_sdk_purpose(purpose, rules)}. "
            "Only JSONL and Parquet files are supported.",
            "purpose",
        )
        return scan

    def body(lines: Iterator[str], scan: Scan) -> None:
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


def scan_parquet_file(path: Path, purpose: str, name: str, rules: Rules) -> Scan:
    scan = Scan(filetype="parquet")
    if purpose == "eval":
        scan.fail(
            f"Parquet files are not supported for {_sdk_purpose(purpose, rules)}. "
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
