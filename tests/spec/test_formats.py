"""The formats the simulator holds values to (``mock_server.spec.formats``): the ones that
constrain a
value are checked, the ones that only name a type are not."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.spec.formats import FORMATS


@pytest.mark.parametrize(
    ("form", "value", "valid"),
    [
        ("date-time", "2025-01-01T12:00:00.123456Z", True),
        ("date-time", "2025-01-01 12:00:00+02:00", True),
        ("date-time", "2024-01-01T12:99:00Z", False),  # minute 99
        ("date-time", "2024-01-01T12:00:00", False),  # no offset: not RFC 3339
        ("date-time", "", False),
        ("date", "2024-02-29", True),
        ("date", "2023-02-29", False),
        ("uuid", "01234567-89ab-4def-8123-456789abcdef", True),
        ("uuid", "batch_job_abc123def456", False),
        ("uri", "https://example.com/a", True),
        ("uri", "not a uri", False),
        ("int32", 2**31 - 1, True),
        ("int32", 2**31, False),
        ("int64", -(2**63), True),
        ("int64", 10937427525851917844480, False),
        ("int64", True, True),  # not an integer for this purpose: the type check decides
        ("int64", 1e30, False),  # an integer to JSON Schema, and too wide
        ("int64", 8.0, True),
        ("int64", 2.5, True),  # not an integer: the type check decides
        ("float", "anything", True),  # only names a type
        ("binary", "", True),
    ],
)
def test_a_value_conforms_only_to_what_its_format_allows(
    form: str, value: Any, valid: bool
) -> None:
    assert FORMATS.conforms(value, form) is valid
