"""``serve --trainer real`` on a Python without the [train] extra: it refuses to start, in one
line naming the install command, instead of accepting jobs and failing every one of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mock_server.real_training.extra import INSTALL_TRAIN, missing_train_extra

# Runs together-sim's own entry point in a Python where torch, transformers and peft cannot be
# found, as in a venv made with `pip install together-sim` alone.
WITHOUT_TRAIN_EXTRA = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"torch", "transformers", "peft"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from mock_server.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _serve(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TRAIN_EXTRA, "serve", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TOGETHER_SIM_DATA_DIR": str(tmp_path / "data")},
    )


def test_serve_with_the_real_trainer_refuses_to_start_without_torch(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--trainer", "real")

    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line == (
        "together-sim: --trainer real needs torch, transformers, peft (the [train] extra), not "
        f"installed in this Python: {INSTALL_TRAIN} (from a clone: pip install -e '.[train]')"
    )
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_the_train_extra_is_found_where_it_is_installed() -> None:
    for name in ("torch", "transformers", "peft"):
        pytest.importorskip(name)
    assert missing_train_extra() is None
