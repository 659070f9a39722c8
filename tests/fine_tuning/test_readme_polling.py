"""The README's polling loop, read as code: a user who copies it must see it end whatever way the
job ends, ``user_error`` included (a bad dataset, a fault injected through the controls)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mock_server.fine_tuning.models import TERMINAL

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def _statuses_polled_for(block: str) -> set[str] | None:
    """The statuses of ``while client.fine_tuning.retrieve(...).status not in (...)``, if any."""
    for node in ast.walk(ast.parse(block)):
        if not isinstance(node, ast.While) or not isinstance(node.test, ast.Compare):
            continue
        left, [op], [right] = node.test.left, node.test.ops, node.test.comparators
        if isinstance(op, ast.NotIn) and "fine_tuning.retrieve" in ast.unparse(left):
            return set(ast.literal_eval(right))
    return None


def test_the_readmes_job_polling_loop_stops_on_every_terminal_status() -> None:
    loops = [s for block in _python_blocks() if (s := _statuses_polled_for(block)) is not None]

    assert loops, "the README has no job polling loop"
    assert all(statuses == {status.value for status in TERMINAL} for statuses in loops)
