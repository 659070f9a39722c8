"""Chat and completions on a real job's output, answered by a worker process.

The server keeps torch out of its own process, so generation runs in one long-lived
``python -m mock_server.training.chat_worker`` that starts on the first request for a real job's
output name and keeps the models it loaded. Requests take turns (a tiny model answers in tens of
milliseconds); call ``complete`` from a worker thread, never from the event loop. If the worker
dies, the request fails with a 500 and the next one starts a new worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mock_server.core.errors import ServerError
from mock_server.inference.models import Completion

__all__ = ["ChatWorker", "RealModel", "spawn_worker", "worker_env"]


@dataclass(frozen=True)
class RealModel:
    """What a real job's output name generates with: its base and adapter, or its full model."""

    model_dir: Path
    adapter_dir: Path | None


def worker_env(threads: int | None = None) -> dict[str, str]:
    """The environment of a worker: offline (nothing is ever downloaded), able to import this
    package even when it is not installed, and with ``threads`` CPU threads (torch reads
    ``OMP_NUM_THREADS`` when it starts; None leaves torch's own choice)."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = {
        **os.environ,
        "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    }
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def spawn_worker(
    module: str, *args: str, log: Path | None, threads: int | None = None
) -> subprocess.Popen[str]:
    """``python -m module args`` speaking JSON lines over stdin/stdout, stderr appended to
    ``log`` (or dropped): how both the training and the inference workers are started."""
    stderr: Any = subprocess.DEVNULL
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        stderr = log.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            bufsize=1,
            env=worker_env(threads),
        )
    finally:
        if log is not None:
            stderr.close()  # the child has its own copy


class ChatWorker:
    def __init__(self, log: Path | None = None, threads: int | None = None) -> None:
        self._log = log
        self._threads = threads
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = spawn_worker(
                "mock_server.training.chat_worker", log=self._log, threads=self._threads
            )
        return self._proc

    def complete(
        self,
        model: RealModel,
        *,
        messages: list[dict[str, Any]] | None = None,
        prompt: str | None = None,
        max_tokens: int | None,
        seed: int | None,
        stop: Sequence[str],
    ) -> Completion:
        request = {
            "model_dir": str(model.model_dir),
            "adapter_dir": None if model.adapter_dir is None else str(model.adapter_dir),
            "messages": messages,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "seed": seed,
            "stop": list(stop),
        }
        with self._lock:
            proc = self._started()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except OSError:
                line = ""
            if not line:
                self._proc = None
                raise ServerError(
                    f"The inference worker exited (code {proc.wait()}); the next request starts "
                    "a new one"
                )
        reply = json.loads(line)
        if "error" in reply:
            raise ServerError(f"Generation failed in the inference worker: {reply['error']}")
        return Completion(
            text=reply["text"],
            prompt_tokens=reply["prompt_tokens"],
            completion_tokens=reply["completion_tokens"],
            finish_reason=reply["finish_reason"],
        )

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()  # the worker ends at the end of its input
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
