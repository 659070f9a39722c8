"""The limits' numbers: which limit a body is held to, the words of a 413, the form parsers'
arguments, and that each number is a ``serve`` flag and a ``TOGETHER_SIM_*`` variable."""

from __future__ import annotations

import pytest

from mock_server.cli import _parser
from mock_server.cli_flags import given_settings
from mock_server.core.limits import LIMITS, MAX_FILE_BYTES, Limits, form_limits, size
from mock_server.settings import Settings

FORM_MAX = MAX_FILE_BYTES + (1 << 20)  # the file and room for its fields


def test_the_upload_limit_is_the_sdks_fifty_point_one_gib() -> None:
    # check_file: MAX_FILE_SIZE_GB = 50.1 with NUM_BYTES_IN_GB = 2**30
    assert MAX_FILE_BYTES == 53_794_465_382
    assert Limits().max_upload_bytes == MAX_FILE_BYTES


@pytest.mark.parametrize(
    ("path", "content_type", "expected"),
    [
        ("/v1/fine-tunes", b"application/json", (16 << 20, None)),
        ("/v1/chat/completions", b"", (16 << 20, None)),
        ("/v1/files", b"application/x-www-form-urlencoded", (16 << 20, None)),
        ("/_uploads/file-1", b"application/octet-stream", (MAX_FILE_BYTES, "file")),
        ("/_uploads/file-1/parts/2", b"application/json", (MAX_FILE_BYTES, "file")),
        ("/v1/files/upload", b"multipart/form-data; boundary=x", (FORM_MAX, "file")),
        ("/v1/files/upload", b"Multipart/Form-Data; boundary=x", (FORM_MAX, "file")),
    ],
)  # fmt: skip
def test_an_upload_is_held_to_the_file_limit_and_any_other_body_to_the_body_limit(
    path: str, content_type: bytes, expected: tuple[int, str | None]
) -> None:
    assert Limits().body_limit(path, content_type) == expected


def test_a_413_says_what_was_sent_the_limit_and_the_flag_that_sets_it() -> None:
    limits = Limits()
    assert limits.too_large(None, 78_643_200) == (
        "The request body is 78643200 bytes, over the limit of 16777216 bytes "
        "(16 MiB; together-sim's --max-body-bytes sets it)"
    )
    assert limits.too_large("file", None) == (
        "The file goes past the limit of 53794465382 bytes (50.1 GiB, the service's maximum "
        "supported file size of 50.1 GB; together-sim's --max-upload-bytes sets it)"
    )
    assert Limits(max_upload_bytes=1000).too_large("file", 1001) == (
        "The file is 1001 bytes, over the limit of 1000 bytes "
        "(1000 bytes; together-sim's --max-upload-bytes sets it)"
    )


def test_sizes_read_as_a_person_writes_them() -> None:
    assert [size(n) for n in (512, 64 << 10, 16 << 20, 3 << 29, MAX_FILE_BYTES)] == [
        "512 bytes",
        "64 KiB",
        "16 MiB",
        "1.5 GiB",
        "50.1 GiB",
    ]


def test_the_form_parsers_take_the_guards_limits_or_the_defaults_without_one() -> None:
    limits = Limits(max_form_fields=3, max_form_files=1, max_form_field_bytes=100)
    assert form_limits({LIMITS: limits}) == {"max_fields": 3, "max_files": 1, "max_part_size": 100}
    assert form_limits({}) == {"max_fields": 64, "max_files": 8, "max_part_size": 1 << 20}


def test_each_limit_is_a_serve_flag_and_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Limits.__dataclass_fields__:
        monkeypatch.delenv(f"TOGETHER_SIM_{name.upper()}", raising=False)
    assert Settings().limits == Limits()
    monkeypatch.setenv("TOGETHER_SIM_MAX_BODY_BYTES", "1024")
    monkeypatch.setenv("TOGETHER_SIM_BODY_TIMEOUT", "0.5")
    argv = ["serve", "--max-header-bytes", "4096", "--max-connections", "10", "--body-timeout", "2"]
    limits = Settings(**given_settings(_parser().parse_args(argv))).limits
    assert limits == Limits(
        max_body_bytes=1024, max_header_bytes=4096, max_connections=10, body_timeout=2.0
    )


@pytest.mark.parametrize("flag", ["--max-body-bytes=0", "--idle-timeout=-1"])
def test_a_limit_must_be_positive(flag: str) -> None:
    with pytest.raises(ValueError):
        Settings(**given_settings(_parser().parse_args(["serve", flag])))
