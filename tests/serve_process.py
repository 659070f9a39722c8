"""``together-sim serve`` as its own process, for the tests that need what a thread cannot give:
a ``kill -9``, a restart on the same data dir, the process's own memory, its own sockets.

``serve_in_thread`` (``mock_server/testing/live.py``) stays the default for the client suites; a
subprocess costs a real startup, so only the kill, restart and hostile-input tests use this.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["free_port", "server_process"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_first_answer(process: subprocess.Popen[bytes], port: int) -> None:
    """Any answer counts, a 401 included: a server with keys configured refuses the probe."""
    deadline = time.monotonic() + 20
    while True:  # poll until it answers: the only wait of these tests
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sim/clock", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("together-sim did not start") from None
            time.sleep(0.05)


@contextmanager
def server_process(
    data_dir: Path,
    port: int,
    *flags: str,
    env: Mapping[str, str] | None = None,
    stderr: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A manual-clock server at the real service's pace (speed 1), seeded, on ``port``; ``flags``
    come last, so they override those defaults. No ``TOGETHER_SIM_*`` variable of the caller leaks
    in; ``env`` adds the test's own. ``stderr`` keeps the server's log for a failing test."""
    command = [
        sys.executable,
        "-m",
        "mock_server",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--clock",
        "manual",
        "--speed",
        "1",
        "--seed",
        "7",
        *flags,
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOGETHER_SIM_")}
    environment.update(env or {})
    log = stderr.open("ab") if stderr is not None else None
    try:
        process = subprocess.Popen(
            command,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log if log is not None else subprocess.DEVNULL,
        )
        try:
            _wait_for_first_answer(process, port)
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
    finally:
        if log is not None:
            log.close()
