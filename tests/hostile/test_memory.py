"""What one hostile file costs the server's memory, read from ``/proc`` of a real server process:
a JSONL file that is one 10 MiB line once raised the server's peak RSS by about 200 MB during its
validation (a 200 MB line by 3.5 GB). Issue 11 bounds the growth at 50 MB for any file and any
line length: a line past ``--max-line-bytes`` (7 MiB by default) is INVALID_FORMAT naming the line
and the limit, and one under it is checked within the same bound."""

from __future__ import annotations

import json

import pytest

from tests.hostile.conftest import SimServerFactory, Wire, upload_file
from tests.steps import conversations

pytestmark = pytest.mark.e2e

BOUND_KB = 50 * 1024
MIB = 1 << 20


def _one_line(content_bytes: int) -> bytes:
    line = {
        "messages": [
            {"role": "user", "content": "x" * content_bytes},
            {"role": "assistant", "content": "y"},
        ]
    }
    return json.dumps(line).encode() + b"\n"


@pytest.mark.parametrize(
    ("size", "status"),
    [
        pytest.param(10 * MIB, "INVALID_FORMAT", id="10 MiB, past the line limit"),
        pytest.param(6 * MIB, "COMPLETED", id="6 MiB, under the line limit"),
    ],
)
def test_a_file_of_one_long_line_raises_peak_memory_by_at_most_50_mb(
    sim_server: SimServerFactory, size: int, status: str
) -> None:
    server = sim_server()
    upload_file(server, "warm-up", conversations(8))  # validation's own imports, once
    before = server.peak_rss_kb()
    checked = upload_file(server, "one-line", _one_line(size))
    assert checked["processing_status"] == status, checked.get("validation_report")
    if status == "INVALID_FORMAT":
        assert checked["validation_report"]["line_number"] == 1
    with Wire(server) as wire:
        wire.still_answers()
    assert server.peak_rss_kb() - before <= BOUND_KB
