"""Start and stop the two servers under test on free loopback ports.

``start(target)`` spawns the process and returns once its first successful (2xx) answer to the
probe ``GET`` has come back, with the time that took. Each start gets a fresh working
directory, so together-sim starts on an empty data dir every time.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import CACHE_DIR

__all__ = [
    "API_KEY",
    "PRISM_PACKAGE",
    "Running",
    "STEADY_PACKAGE",
    "Target",
    "ensure_prism",
    "prism_target",
    "prism_version",
    "sim_target",
    "start",
    "steady_target",
    "versioned_paths",
    "write_versioned_spec",
]

API_KEY = "bench-key"
PRISM_PACKAGE = "@stoplight/prism-cli@5"
STEADY_PACKAGE = "@stdy/cli@0.22.1"
_POLL_S = 0.005  # between probe attempts while a server starts


@dataclass(frozen=True)
class Target:
    """How to run one server: its name, the argv for a port and working directory, and the
    prefix its paths carry (together-sim serves ``/v1/...``; Prism serves the spec's paths,
    which are relative to the spec's server ``https://api.together.ai/v1``)."""

    name: str
    argv: Callable[[int, Path], list[str]]
    prefix: str
    probe: str = "/fine-tunes"


@dataclass
class Running:
    target: Target
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    startup_s: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """``path`` as the API names it (``/fine-tunes/x``), on this server."""
        return f"{self.origin}{self.target.prefix}{path}"

    def stop(self) -> None:
        """SIGTERM to the process group this bench created, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _sim_argv(
    clock: str, speed: float | None, extra_args: tuple[str, ...]
) -> Callable[[int, Path], list[str]]:
    script = Path(sys.executable).with_name("together-sim")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mock_server"]

    def argv(port: int, workdir: Path) -> list[str]:
        return [
            *command,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(workdir / "data"),
            "--clock",
            clock,
            "--seed",
            "7",
            *(["--speed", f"{speed:g}"] if speed is not None else []),
            *extra_args,
        ]

    return argv


def sim_target(
    clock: str = "instant",
    speed: float | None = None,
    *,
    keep_views: bool = True,
    extra_args: tuple[str, ...] = (),
) -> Target:
    """together-sim on ``clock``. ``keep_views=False`` adds ``--no-keep-views``: the server keeps
    no rendered job body, so every poll takes the full path. ``extra_args`` go after the rest."""
    flags = () if keep_views else ("--no-keep-views",)
    return Target(
        name="together-sim", argv=_sim_argv(clock, speed, (*flags, *extra_args)), prefix="/v1"
    )


def ensure_prism(cache_dir: Path = CACHE_DIR) -> Path:
    """The ``prism`` executable, installed into ``cache_dir`` with npm on first use."""
    binary = cache_dir / "node_modules" / ".bin" / "prism"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH: install Node.js 18+ to benchmark Prism")
    cache_dir.mkdir(parents=True, exist_ok=True)
    print(f"installing {PRISM_PACKAGE} into {cache_dir} (first run only) ...", flush=True)
    subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(cache_dir),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            PRISM_PACKAGE,
        ],
        check=True,
    )
    if not binary.exists():
        raise RuntimeError(f"npm install finished but {binary} is missing")
    return binary


def prism_version(cache_dir: Path = CACHE_DIR) -> str:
    manifest = cache_dir / "node_modules" / "@stoplight" / "prism-cli" / "package.json"
    try:
        version: str = json.loads(manifest.read_text())["version"]
        return version
    except (OSError, KeyError, ValueError):
        return "unknown"


def prism_target(binary: Path, spec: Path, *, prefix: str = "") -> Target:
    def argv(port: int, workdir: Path) -> list[str]:
        # The .bin entry is a `#!/usr/bin/env node` script, so the spawned pid is node's.
        return [str(binary), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)]

    return Target(name="Prism", argv=argv, prefix=prefix)


def steady_target(npm: str, spec: Path, *, prefix: str = "") -> Target:
    """Steady (Stainless's mock server) on ``spec``, fetched by ``npm exec`` (from npm's cache
    after the first run). It serves the spec's paths as they are written, as Prism does: it has
    no option for a base path and ignores the servers' (``prefix`` is the one a spec from
    ``write_versioned_spec`` puts ahead of ``/fine-tunes``: ``/v1``)."""

    def argv(port: int, workdir: Path) -> list[str]:
        steady = ["steady", "-q", "--host", "127.0.0.1", "-p", str(port), str(spec)]
        return [npm, "exec", "--yes", f"--package={STEADY_PACKAGE}", "--", *steady]

    return Target(name="Steady", argv=argv, prefix=prefix)


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _server_path(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


def versioned_paths(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec``'s paths, each under the path of every server its operations name (the path
    item's, else the operation's, else the spec's): ``/fine-tunes`` (servers ``.../v1`` and
    ``.../v2``) becomes ``/v1/fine-tunes`` and ``/v2/fine-tunes``, ``/projects/{projectId}``
    (``.../v2``) ``/v2/projects/{projectId}``. That is the path SDK 3.x sends, which mock servers
    that ignore the servers' paths (Steady, Prism) then match. Operations of one path item under
    different servers are split between the prefixed copies."""
    top = spec.get("servers") or [{"url": "/"}]
    paths: dict[str, Any] = {}
    for path, item in spec.get("paths", {}).items():
        shared = item.get("servers") or top
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            for server in operation.get("servers") or shared:
                versioned = paths.setdefault(
                    _server_path(server["url"]) + path,
                    {k: v for k, v in item.items() if k not in (*_METHODS, "servers")},
                )
                versioned[method] = {k: v for k, v in operation.items() if k != "servers"}
    return paths


def write_versioned_spec(spec: Path, dest: Path) -> Path:
    """A copy of ``spec`` (JSON or YAML) at ``dest`` (JSON) with ``versioned_paths`` and one
    server, the root, so a server that mounts spec paths as written answers SDK 3.x's paths."""
    import yaml

    text = spec.read_text()
    document = json.loads(text) if spec.suffix == ".json" else yaml.safe_load(text)
    document = {**document, "servers": [{"url": "/"}], "paths": versioned_paths(document)}
    dest.write_text(json.dumps(document))
    return dest


def _answers(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {API_KEY}"})
        response = conn.getresponse()
        response.read()
        return 200 <= response.status < 300
    except OSError:  # refused / reset while the server comes up
        return False
    finally:
        conn.close()


def start(target: Target, *, timeout_s: float = 120.0) -> Running:
    """Spawn ``target`` and wait for its first 2xx answer to ``GET <prefix><probe>``."""
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{target.name.lower()}-"))
    log = (workdir / "server.log").open("wb")
    probe = target.prefix + target.probe
    started = time.perf_counter()
    proc = subprocess.Popen(
        target.argv(port, workdir),
        stdin=subprocess.DEVNULL,
        stdout=log,  # Prism logs every request on stdout; a file keeps that cheap
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stop() reaches node's children
    )
    log.close()
    running = Running(target=target, proc=proc, port=port, workdir=workdir, startup_s=0.0)
    while True:
        if _answers(port, probe):
            running.startup_s = time.perf_counter() - started
            return running
        elapsed = time.perf_counter() - started
        if proc.poll() is not None or elapsed > timeout_s:
            tail = (workdir / "server.log").read_text(errors="replace")[-2000:]
            running.stop()
            why = f"exited with {proc.returncode}" if proc.returncode is not None else "timed out"
            raise RuntimeError(f"{target.name} {why} before answering {probe}:\n{tail}")
        time.sleep(_POLL_S)
