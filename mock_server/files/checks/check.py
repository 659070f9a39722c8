"""Server-side validation of uploaded fine-tuning datasets.

Holds :func:`check_dataset`, which the upload route runs on every stored file: the file-level
checks (found, size, extension) around the content checks of ``scans.py`` (purpose, CSV and
Parquet, and the per-line JSONL rules of ``jsonl.py`` and ``rules.py``), ending in a
``report.CheckReport``. The rules and their exact
message texts are those of a Together SDK's ``check_file`` (together 3.1.1's
``together/lib/utils/files.py`` by default, or 1.5.35's ``together/utils/files.py``; see
``lora-and-semantics.md`` §6.7): a file that SDK accepts must be accepted here and vice versa,
with the same words, so a client cannot tell the simulator from the real service.

Two rule sets (``rules``), each the ``check_file`` of one SDK line, compared key for key with it
by the differential tests (``tests/files/checks/test_check_vs_sdk.py``):

* ``"3.1.1"``, the default: the newest client's, the best evidence of what the service enforces
  now (3.1.1 leaves "semantic checks" to the server and says no more of them). A JSONL line need
  only be a JSON object (blank lines skipped); formats, roles, turns and contents are measured
  (the file's format, tokens, weights) but refuse nothing. A file over the size limit is not
  read; an unknown extension's message names ``.csv`` too; a missing file has a message.
* ``"1.5.35"``: every format and content rule (J…, M…, T1, P… of ``lora-and-semantics.md``
  §6.7), blank lines refused as unparsable, an oversize file still read.

Where these checks depart from the SDK, it is on purpose:

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
  recursion limit), ``scans.py`` reports the error the SDK's nearest branch would have reported.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from mock_server.files.checks import report
from mock_server.files.checks.reader import MAX_LINE_BYTES
from mock_server.files.checks.report import CHECKS_PASSED, CheckReport, Rules, unknown_extension
from mock_server.files.checks.scans import Scan, scan_csv_file, scan_jsonl_file, scan_parquet_file

__all__ = ["DEFAULT_RULES", "RULES", "Rules", "check_dataset"]

RULES: tuple[Rules, ...] = ("3.1.1", "1.5.35")
DEFAULT_RULES: Rules = "3.1.1"


def check_dataset(
    path: Path,
    *,
    purpose: str = "fine-tune",
    filename: str | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    rules: Rules = DEFAULT_RULES,
) -> CheckReport:
    """Check the dataset stored at ``path``, as the SDK's ``check_file`` would.

    ``filename`` is the name the user uploaded: its extension picks the rules (the stored file
    may have none) and it stands for the file in messages. ``purpose`` is the upload purpose.
    ``rules``: which SDK's ``check_file`` (see the module's docstring). A plain function with no
    shared state: the server runs it in a worker thread.
    """
    name = filename if filename is not None else str(path)
    newest = rules == "3.1.1"
    if not path.is_file():  # F1: 1.5.35 says nothing but found=False
        missing = f"File not found or path is not a regular file: {name}"
        return CheckReport(
            is_check_passed=False,
            message=missing if newest else CHECKS_PASSED,
            error_source="found",
            error=missing if newest else f"No file found for {name}.",
            filename=name,
            rules=rules,
        )
    size = path.stat().st_size
    if size == 0:  # F3
        return CheckReport(
            is_check_passed=False,
            message="File is empty",
            error_source="file_size",
            error="File is empty",
            filename=name,
            rules=rules,
        )
    # Read through the module, so that a test can lower the limit for both this and sdk_report.
    too_big = (
        f"Maximum supported file size is {report.MAX_FILE_SIZE_GB} GB. "
        f"Found file with size of {round(size / report.NUM_BYTES_IN_GB, 3)} GB."
    )
    if newest and size > report.MAX_FILE_SIZE_BYTES:  # F2: 3.1.1 stops there
        return CheckReport(
            is_check_passed=False,
            message=too_big,
            error_source="file_size",
            error=too_big,
            file_size=size,
            filename=name,
            rules=rules,
        )

    suffix = PurePath(name).suffix  # case-sensitive, like the SDK: ".JSONL" is unknown
    if suffix == ".jsonl":
        scan = scan_jsonl_file(path, purpose, name, max_line_bytes, lenient=newest)
    elif suffix == ".csv":
        scan = scan_csv_file(path, purpose, name, max_line_bytes, rules)
    elif suffix == ".parquet":
        scan = scan_parquet_file(path, purpose, name, rules)
    else:  # F4: 1.5.35 hides the reason in `filetype` and keeps "Checks passed"
        scan = Scan(filetype="")
        unknown = unknown_extension(name, rules)
        scan.fail(unknown if newest else CHECKS_PASSED, "filetype", error=unknown)

    if size > report.MAX_FILE_SIZE_BYTES:
        # F2. 1.5.35 notes the size, runs the content checks anyway, and lets any message they
        # set overwrite its own.
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
        rules=rules,
    )
