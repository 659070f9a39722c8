"""Running an SDK sdist's own generated suite (``tests/api_resources``) against examples mode.

Stainless generates ``tests/api_resources`` from the spec an SDK is made from and runs it against a
mock server (Prism, later Steady) at ``TEST_API_BASE_URL``: every method of the SDK, sync and
async, raw and streamed, with strict response validation. Here the mock server is ``together-sim
serve --mode examples`` in a subprocess (its own clean environment: no ``TOGETHER_SIM_*`` setting
of the caller's leaks in), and the suite runs from the sdist's root in the SDK's own venv. A suite
passes as a whole: the only skips allowed are those the suite makes itself.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["REPO", "SuiteRun", "examples_server", "run_suite"]

REPO = Path(__file__).resolve().parents[2]
SERVER = Path(sys.executable).with_name("together-sim")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env(home: Path) -> dict[str, str]:
    """Nothing of the caller's environment: no TOGETHER_SIM_* setting, no PYTEST_ADDOPTS."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


@contextmanager
def examples_server(tmp_path: Path, *flags: str) -> Iterator[str]:
    """``together-sim serve --mode examples`` (and ``flags``) on a free port: its root URL."""
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(SERVER), "serve", "--mode", "examples", "--host", "127.0.0.1"]
            + ["--port", str(port), *flags],
            env=_clean_env(tmp_path),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # the only wait: the server coming up
            try:
                httpx.get(f"{root}/openapi.json", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"examples mode did not start:\n{log.read_text()}") from None
                time.sleep(0.05)
        yield root
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class SuiteRun:
    """What a run of the suite printed: its counts and its skips."""

    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.returncode = done.returncode
        self.tail = done.stdout[-4000:]
        self.summary = self.tail.strip().splitlines()[-1] if self.tail.strip() else ""
        self.counts = {
            word: int(n)
            for n, word in re.findall(r"(\d+) (passed|skipped|failed|error)", self.summary)
        }
        self.skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]

    def only_own_skips(self, own: Sequence[str]) -> bool:
        """Every skip is one the suite makes itself, and the SKIPPED lines add up to the count."""
        counted = sum(int(re.findall(r"\[(\d+)\]", line)[0]) for line in self.skips)
        mine = all(any(reason in line for reason in own) for line in self.skips)
        return mine and counted == self.counts.get("skipped", 0)


def run_suite(python: Path, sdist: Path, base_url: str, tmp_path: Path) -> SuiteRun:
    env = {**_clean_env(tmp_path), "TEST_API_BASE_URL": base_url}
    done = subprocess.run(
        [str(python), "-m", "pytest", "tests/api_resources", "-q", "-rs", "-n", "0"]
        + ["-p", "no:cacheprovider"],
        cwd=sdist,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return SuiteRun(done)
