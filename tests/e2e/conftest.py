"""The live server the e2e tests point the real clients at, and the data the seeds use.

``serve_in_thread`` runs uvicorn on 127.0.0.1 with port 0 in a daemon thread (httpx's own test
suite does the same), so every test gets a fresh app, a fresh data dir under ``tmp_path`` and its
own port. Startup is a few milliseconds, so the server is function-scoped: no test sees another's
jobs. Each test also gets its own API key, hence its own tenant.

The instant-clock server finishes a job on the first read after its creation; the manual-clock
server (speed 1, the real service's pace) moves only when a test calls ``advance``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from mock_server.app import create_app
from mock_server.settings import ClockMode, Settings

# seeds/001, "1. Prepare Data": the conversational quickstart file.
QUICKSTART = [
    {
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "What is AI?"},
            {"role": "assistant", "content": "AI is artificial intelligence."},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
        ]
    },
]

# seeds/001, "DPO Preference Fine-Tuning".
PREFERENCE = [
    {
        "input": {"messages": [{"role": "user", "content": "Explain AI"}]},
        "preferred_output": [{"role": "assistant", "content": "AI is a broad field..."}],
        "non_preferred_output": [{"role": "assistant", "content": "It means computers."}],
    }
]


@dataclass
class Exchange:
    """One request the server received, as the wire saw it, and the status it was answered with
    (0 until the answer starts)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int = 0

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


class _Recorder:
    """ASGI middleware noting every request and the status it got, so a test can assert what a
    real client sent (the Range probe of a download, the calls made before a job is posted)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode(),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
        )
        self.exchanges.append(exchange)

        async def noting(message: Any) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
            await send(message)

        await self.app(scope, receive, noting)


@dataclass
class LiveServer:
    """A running simulator: ``root`` is what a 3.x client takes, ``v1`` what 1.5.x takes."""

    root: str
    settings: Settings
    recorder: _Recorder

    @property
    def exchanges(self) -> list[Exchange]:
        """The API traffic so far, without the tests' own ``/_sim`` calls."""
        return [e for e in self.recorder.exchanges if not e.path.startswith("/_sim")]

    @property
    def v1(self) -> str:
        return f"{self.root}/v1"

    def sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.root}/_sim{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def advance(self, seconds: float) -> None:
        self.sim("POST", "/advance", {"seconds": seconds})


@contextmanager
def serve_in_thread(settings: Settings) -> Iterator[LiveServer]:
    recorder = _Recorder(create_app(settings))
    # lifespan on: the app's shutdown stops any training or inference worker it started.
    config = uvicorn.Config(recorder, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="together-sim", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # the only wait in the suite: the server coming up
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("together-sim did not start")
        time.sleep(0.005)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield LiveServer(root=f"http://{host}:{port}", settings=settings, recorder=recorder)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _settings(tmp_path: Path, clock: ClockMode, **overrides: Any) -> Settings:
    # Every field that matters is given, so no TOGETHER_SIM_* variable of the caller leaks in.
    given: dict[str, Any] = {
        "data_dir": tmp_path / "sim-data",
        "clock": clock,
        "speed": 1.0,
        "seed": 1234,
        "api_keys": [],
        "admin_key": None,
        "account": "sim-user",
        "spec": None,
        "trainer": "synthetic",
        "progress": False,
    }
    return Settings(**{**given, **overrides})


@pytest.fixture
def instant_server(tmp_path: Path) -> Iterator[LiveServer]:
    with serve_in_thread(_settings(tmp_path, ClockMode.instant)) as server:
        yield server


@pytest.fixture
def manual_server(tmp_path: Path) -> Iterator[LiveServer]:
    with serve_in_thread(_settings(tmp_path, ClockMode.manual)) as server:
        yield server


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[LiveServer]:
    """Instant clock, real trainer: training starts on the first look after creation."""
    with serve_in_thread(_settings(tmp_path, ClockMode.instant, trainer="real")) as server:
        yield server


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server that accepts only the key ``good``."""
    with serve_in_thread(_settings(tmp_path, ClockMode.instant, api_keys=["good"])) as server:
        yield server


@pytest.fixture
def api_key(request: pytest.FixtureRequest) -> str:
    """One key, so one tenant, per test."""
    return "key-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:24]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def quickstart_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "training_data.jsonl", QUICKSTART)


@pytest.fixture
def priced_file(tmp_path: Path) -> Path:
    """~60 K tokens: over 3 epochs a few cents, so a price shown as "$0.00" is a wrong unit, not
    rounding."""
    rows = [
        {"messages": [{"role": "user", "content": f"question {i} " * 40},
                      {"role": "assistant", "content": f"answer {i} " * 60}]}
        for i in range(200)
    ]  # fmt: skip
    return write_jsonl(tmp_path / "big.jsonl", rows)


@pytest.fixture
def preference_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "preference_data.jsonl", PREFERENCE)


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """An environment for client subprocesses built from nothing: no stored credentials (HOME
    is a temp dir), no telemetry, no version check, and none of the variables that make the 3.x
    CLI believe an AI agent runs it (which would switch its output to JSON by itself)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "TERM": "dumb",
        "TOGETHER_TELEMETRY_DISABLED": "1",
        "TOGETHER_DISABLE_VERSION_CHECK": "1",
        "TOGETHER_NO_BANNER": "1",
    }


@pytest.fixture
def tg(instant_server: Any, api_key: str, clean_env: dict[str, str], tmp_path: Path) -> Any:
    """SDK 3.1.1's CLI (``together ... --json``) against ``instant_server``: its JSON answer."""
    env = {**clean_env, "TOGETHER_BASE_URL": instant_server.root, "TOGETHER_API_KEY": api_key}
    cli = Path(sys.executable).with_name("together")

    def run(*args: str) -> Any:
        done = subprocess.run(
            [str(cli), *args, "--json"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
        return json.loads(done.stdout)

    return run
