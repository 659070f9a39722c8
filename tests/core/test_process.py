from __future__ import annotations

import subprocess
import sys

import pytest

from mock_server.core.process import limit_malloc_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_arena_limit_takes_effect_in_a_fresh_process() -> None:
    # In a child: mallopt changes the process it runs in, and the test runner's threads exist.
    code = "from mock_server.core.process import limit_malloc_arenas as f; print(f(2), f(0))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # glibc accepts any positive count and refuses nothing here; 0 means "the default" and is
    # accepted as well, so both calls answer True where mallopt exists.
    assert out.stdout.split() == ["True", "True"]


def test_off_linux_nothing_is_attempted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert limit_malloc_arenas() is False
