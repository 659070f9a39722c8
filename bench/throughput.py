"""Throughput of ``GET /fine-tunes/{id}`` at a fixed number of connections.

The load generator is ``wrk`` (C, epoll; Debian package ``wrk``, installed with apt-get when
missing and running as root), with a Lua script that adds the ``Authorization`` header and
``--latency`` for the percentiles. Without ``wrk`` a Python asyncio + httpx generator stands
in, with a warning: it is far slower than wrk and may be the bottleneck itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.memory import descendants
from bench.servers import API_KEY

__all__ = [
    "LoadSettings",
    "Throughput",
    "cpu_seconds",
    "ensure_wrk",
    "measure_throughput",
    "wrk_version",
]


@dataclass(frozen=True)
class LoadSettings:
    duration_s: float = 10.0
    warmup_s: float = 2.0
    threads: int = 2
    connections: int = 10


@dataclass
class Throughput:
    tool: str
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu: float | None = None  # the server's CPU seconds per wall second under load

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_wrk() -> str | None:
    """Path of ``wrk``; installs the Debian package if missing and allowed; None if not."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_INSTALL"):
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return None
    print("wrk is missing: apt-get install -y wrk ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*words: str) -> int:
        quiet = subprocess.DEVNULL
        return subprocess.run([apt, *words], env=env, stdout=quiet, stderr=quiet).returncode

    if apt_get("install", "-y", "-q", "wrk") != 0:
        apt_get("update", "-q")
        apt_get("install", "-y", "-q", "wrk")
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0] if first else "wrk"


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(output: str) -> Throughput:
    def number(pattern: str, default: str | None = None) -> str:
        match = re.search(pattern, output)
        if match is None:
            if default is None:
                raise ValueError(f"no {pattern!r} in wrk output:\n{output}")
            return default
        return match.group(1)

    p50 = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    if p50 is None or p99 is None:
        raise ValueError(f"no latency distribution in wrk output (--latency?):\n{output}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if done is None:
        raise ValueError(f"no request count in wrk output:\n{output}")
    return Throughput(
        tool="wrk",
        requests=int(done.group(1)),
        duration_s=_ms(done.group(2), done.group(3)) / 1e3,
        rps=float(number(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(*p50.groups()),
        p99_ms=_ms(*p99.groups()),
        non_2xx=int(number(r"Non-2xx or 3xx responses: (\d+)", "0")),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def _run_wrk(wrk: str, url: str, settings: LoadSettings, seconds: float, script: Path) -> str:
    command = [
        wrk,
        f"-t{settings.threads}",
        f"-c{settings.connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _with_wrk(wrk: str, url: str, settings: LoadSettings) -> Throughput:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "auth.lua"
        script.write_text(f'wrk.headers["Authorization"] = "Bearer {API_KEY}"\n')
        if settings.warmup_s > 0:
            _run_wrk(wrk, url, settings, settings.warmup_s, script)
        result = parse_wrk(_run_wrk(wrk, url, settings, settings.duration_s, script))
    result.tool = " ".join(wrk_version(wrk).split()[:2])  # "wrk 4.1.0-..."
    return result


async def _python_load(url: str, settings: LoadSettings, seconds: float) -> Throughput:
    limits = httpx.Limits(max_connections=settings.connections)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    latencies: list[float] = []
    failures = 0
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - sent)
                failures += not response.is_success

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(settings.connections)))
        elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return Throughput(
        tool="python asyncio+httpx (fallback)",
        requests=len(latencies),
        duration_s=elapsed,
        rps=len(latencies) / elapsed,
        p50_ms=cuts[49] * 1e3,
        p99_ms=cuts[98] * 1e3,
        non_2xx=failures,
        socket_errors=0,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for each in (pid, *descendants(pid)):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def measure_throughput(
    url: str, settings: LoadSettings, wrk: str | None, server_pid: int | None = None
) -> Throughput:
    """Warm up, then load ``url``; with ``server_pid``, also how busy the server was (1.0: one
    core all the time), which tells whether it or the load generator was the limit."""
    before = cpu_seconds(server_pid) if server_pid else 0.0
    result = _measure(url, settings, wrk)
    if server_pid:
        cpu = cpu_seconds(server_pid) - before
        result.server_cpu = cpu / (result.duration_s + settings.warmup_s)
    return result


def _measure(url: str, settings: LoadSettings, wrk: str | None) -> Throughput:
    if wrk is not None:
        return _with_wrk(wrk, url, settings)
    print(
        "WARNING: wrk not found; using the Python asyncio+httpx generator, which is probably "
        "the bottleneck: treat req/s as a lower bound.",
        file=sys.stderr,
        flush=True,
    )
    if settings.warmup_s > 0:
        asyncio.run(_python_load(url, settings, settings.warmup_s))
    return asyncio.run(_python_load(url, settings, settings.duration_s))
