"""The outcome of one dataset check, and the very dict the SDK's ``check_file`` returns for it.

Apart from the checker (``check.py``) because it is the part clients see twice: the server reports
:class:`CheckReport` on the file, and :meth:`CheckReport.sdk_report` rebuilds, flag quirks included,
what the SDK would have said, which the differential test compares key for key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mock_server.files.checks.rules import DatasetFormat

__all__ = [
    "CHECKS_PASSED",
    "MAX_FILE_SIZE_BYTES",
    "MAX_FILE_SIZE_GB",
    "NUM_BYTES_IN_GB",
    "CheckReport",
    "Rules",
    "unknown_extension",
]

# The SDK's limits (together/constants.py). "GB" there means GiB.
MAX_FILE_SIZE_GB = 50.1
NUM_BYTES_IN_GB = 2**30
MAX_FILE_SIZE_BYTES = MAX_FILE_SIZE_GB * NUM_BYTES_IN_GB

# Whose check_file the checks follow: SDK 3.1.1's (the default) or 1.5.35's (check.py).
Rules = Literal["3.1.1", "1.5.35"]

CHECKS_PASSED = "Checks passed"
# Content errors the SDK records by setting report[error_source] = False.
_SDK_FLAGS = ("format", "key_value", "line_type")


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    """The outcome of ``check.check_dataset``.

    ``message`` is exactly what the SDK's report would say (so it can be "Checks passed" on some
    failures); ``error`` is a human-readable reason for every failure and None on success.
    ``error_source`` names the failed check: for JSONL/CSV content errors it is the SDK's own
    ``error_source`` ("format", "key_value", "line_type"; None for the image-URL format error,
    which the SDK raises without one), otherwise one of "found", "file_size", "filetype",
    "purpose", "utf8", "load_json", "load_csv", "header", "load_parquet", "has_min_samples",
    and "line_length" for a line over together-sim's own limit (which the SDK does not have).
    ``line_number`` is 1-based; for JSON that does not parse it is set here although the SDK omits
    it. ``filetype`` is "jsonl", "parquet", "csv", or "" when no file type was decided.
    ``num_samples``, ``token_count`` and ``has_weights`` cover the samples that passed before the
    scan stopped (all of them on success; none after an encoding error).
    """

    is_check_passed: bool
    message: str
    line_number: int | None = None
    error_source: str | None = None
    dataset_format: DatasetFormat | None = None
    num_samples: int = 0
    file_size: int = 0
    filetype: str = ""
    token_count: int = 0
    has_weights: bool = False
    error: str | None = None
    filename: str = ""
    rules: Rules = "3.1.1"  # which SDK's check_file (check.py)

    def sdk_report(self) -> dict[str, object]:
        """The dict the SDK's ``check_file`` would return for this file."""
        report: dict[str, object] = {
            "is_check_passed": self.is_check_passed,
            "message": self.message,
            "found": None,
            "file_size": None,
            "utf8": None,
            "line_type": None,
            "text_field": None,
            "key_value": None,
            "has_min_samples": None,
            "num_samples": None,
            "load_json": None,
            "load_csv": None,
        }
        source = self.error_source
        report["found"] = source != "found"
        if source == "found":
            return report
        if self.file_size == 0:
            report["file_size"] = 0
            return report
        newest = self.rules == "3.1.1"
        if newest and self.file_size > MAX_FILE_SIZE_BYTES:  # 3.1.1 stops at the size
            report["file_size"] = self.file_size
            return report
        if self.file_size <= MAX_FILE_SIZE_BYTES:  # 1.5.35 leaves it None for oversize files
            report["file_size"] = self.file_size
        if not self.filetype:
            report["filetype"] = unknown_extension(self.filename, self.rules)
            return report
        report["filetype"] = self.filetype
        if source == "purpose":
            return report

        # The content checks ran to the end and passed (perhaps on an oversize file).
        content_ok = (source is None and self.is_check_passed) or source == "file_size"
        if self.filetype == "parquet":
            if source == "load_parquet":
                report["load_parquet"] = self.error
            elif source == "has_min_samples":
                report["has_min_samples"] = False
            elif content_ok:
                report["num_samples"] = self.num_samples
                # SDK quirk: the Parquet branch sets is_check_passed True on success, undoing
                # the oversize failure.
                report["is_check_passed"] = True
            return report

        report["utf8"] = source != "utf8"
        if source == "utf8" or source == "header":
            return report
        load_key = "load_json" if self.filetype == "jsonl" else "load_csv"
        if content_ok:
            report.update({load_key: True, "has_min_samples": True})
            report["num_samples"] = self.num_samples
        elif source == "has_min_samples":
            report.update({load_key: True, "has_min_samples": False})
        else:
            report[load_key] = False
            if source not in ("load_json", "load_csv"):  # unparsable input carries no line
                report["line_number"] = self.line_number
            if source in _SDK_FLAGS:
                report[source] = False
        if self.filetype == "jsonl":
            for key in ("text_field", "line_type", "key_value"):
                if report[key] is None:
                    report[key] = True
        return report


def unknown_extension(name: str, rules: Rules = "3.1.1") -> str:
    kinds = ".jsonl, .parquet, and .csv" if rules == "3.1.1" else ".jsonl and .parquet"
    return f"Unknown extension of file {name}. Only files with extensions {kinds} are supported."
