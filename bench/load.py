"""The mixed workload: many CI jobs at once against one ``together-sim serve``.

Each simulated client is one CI job with its own key (so its own tenant), repeating one session
back to back until the time is up: the SDK's upload (``POST /v1/files`` answered 302, the ``PUT``
of the bytes, ``POST /v1/files/{id}/preprocess``), ``POST /v1/fine-tunes``, 5 polls of the job,
2 event lists and a job list: 12 requests. The load generator runs in processes of its own
(``load_client.py``: asyncio + aiohttp, on uvloop where installed, one connection pool per
client), never in the server's process or the bench's, and measures its own CPU time: a
generator that keeps a core busy is the bottleneck, and its report says so.

A row's figures count the requests *started* inside the measured window (after the warm-up) and
answered; an answer other than the status the SDK needs (302 for the first upload step, 200
elsewhere) or a failed request is an error. ``tests/hostile/test_soak.py`` runs the same
generator and checks that every file and job it created can be read back.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.memory import tree_rss_kib
from bench.throughput import cpu_seconds

__all__ = [
    "EVENT_LISTS",
    "KINDS",
    "POLLS",
    "LoadRow",
    "Workload",
    "markdown",
    "measure_load",
    "ms",
    "per_operation",
    "run_generators",
]

# Operation kinds in session order, with the status each must answer.
KINDS: dict[str, int] = {
    "upload: POST /files": 302,
    "upload: PUT": 200,
    "upload: preprocess": 200,
    "create": 200,
    "poll": 200,
    "events": 200,
    "list": 200,
}
POLLS, EVENT_LISTS = 5, 2
TARGETS = {"rps": 1000.0, "p99_ms": 250.0, "errors": 0}  # at 50 clients (issue 11, must-have 7)


@dataclass(frozen=True)
class Workload:
    """One generator run: ``clients`` clients repeat the session for ``warmup_s`` then
    ``duration_s`` seconds (only the latter measured), split over ``processes`` processes."""

    clients: int = 50
    duration_s: float = 20.0
    warmup_s: float = 3.0
    processes: int = 1
    # Also report every file acknowledged and job created ({key, file, job}), for the soak test.
    keep_ids: bool = False


def run_generators(
    origin: str,
    workload: Workload,
    *,
    key_prefix: str = "load",
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Spawn ``workload.processes`` generator processes (``python -m bench.load``) against
    ``origin``, wait for them and merge what they measured; with ``server_pid``, also the cores
    the server kept busy over the measured window."""
    keys = [f"{key_prefix}-{i:04d}" for i in range(workload.clients)]
    shares = [keys[i :: workload.processes] for i in range(workload.processes)]
    start_at = time.time() + 1.5  # time for every process to import aiohttp and get ready
    window = (start_at + workload.warmup_s, start_at + workload.warmup_s + workload.duration_s)
    server_cpu: list[float] = []
    if server_pid is not None:
        sampler = threading.Thread(target=_sample_cpu, args=(server_pid, window, server_cpu))
        sampler.start()
    repo = Path(__file__).resolve().parent.parent
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.load_client",
                origin,
                str(start_at),
                json.dumps(asdict(workload)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=repo,
            text=True,
        )
        for _ in shares
    ]
    outputs = []
    limit = workload.warmup_s + workload.duration_s + 120
    for proc, share in zip(procs, shares, strict=True):
        out, _ = proc.communicate(json.dumps(share), timeout=limit)
        if proc.returncode != 0:
            raise RuntimeError(f"a load generator exited with {proc.returncode}")
        outputs.append(json.loads(out))
    merged = _merge(outputs, workload)
    if server_pid is not None:
        sampler.join()
        merged["server_cpu"] = server_cpu[0] if server_cpu else None
    return merged


def _sample_cpu(pid: int, window: tuple[float, float], out: list[float]) -> None:
    """The server's CPU seconds per second over ``window`` (on ``time.time()``)."""
    time.sleep(max(0.0, window[0] - time.time()))
    cpu0, wall0 = cpu_seconds(pid), time.time()
    time.sleep(max(0.0, window[1] - time.time()))
    out.append((cpu_seconds(pid) - cpu0) / (time.time() - wall0))


def _percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _merge(outputs: list[dict[str, Any]], workload: Workload) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    errors = dict.fromkeys(KINDS, 0)
    for out in outputs:
        for kind in KINDS:
            latencies[kind] += out["latencies"][kind]
            errors[kind] += out["errors"][kind]
    every = [s for kind in KINDS for s in latencies[kind]]

    def figures(values: list[float], failed: int) -> dict[str, Any]:
        p50, p99 = _percentile(values, 50), _percentile(values, 99)
        return {
            "requests": len(values),
            "errors": failed,
            "rps": len(values) / workload.duration_s,
            "p50_ms": None if p50 is None else p50 * 1e3,
            "p99_ms": None if p99 is None else p99 * 1e3,
            "max_ms": max(values) * 1e3 if values else None,
        }

    return {
        **figures(every, sum(errors.values())),
        "by_kind": {kind: figures(latencies[kind], errors[kind]) for kind in KINDS},
        "error_samples": [s for out in outputs for s in out["error_samples"]][:5],
        "created": [c for out in outputs for c in out["created"]],
        "sessions": sum(out["sessions"] for out in outputs),
        # Cores the generators kept busy: near 1.0 per process means the generator is the limit.
        "generator_cpu": [out["cpu"] for out in outputs],
    }


# --- a row of the bench: one fresh server, one client count -----------------------------------


@dataclass
class LoadRow:
    clients: int
    result: dict[str, Any]  # with server_cpu: the cores the server kept busy, measured window
    rss_before_mb: float
    rss_after_mb: float
    command: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["result"] = {k: v for k, v in self.result.items() if k != "created"}
        return out


def measure_load(
    clients: Sequence[int] = (50, 200),
    *,
    duration_s: float = 20.0,
    warmup_s: float = 3.0,
    processes: int = 1,
) -> dict[str, Any]:
    """Each client count on a fresh ``together-sim serve`` on the realtime clock at its default
    speed (what a user's CI runs), one after the other."""
    import shlex

    from bench.servers import sim_target, start

    target = sim_target("realtime")
    rows = []
    for count in clients:
        workload = Workload(count, duration_s, warmup_s, processes)
        print(f"[load] {count} clients, {warmup_s:g} s warm-up + {duration_s:g} s ...", flush=True)
        server = start(target)
        try:
            rss_before = tree_rss_kib(server.pid)
            result = run_generators(server.origin, workload, server_pid=server.pid)
            rss_after = tree_rss_kib(server.pid)
        finally:
            server.stop()
        rows.append(
            LoadRow(
                clients=count,
                result=result,
                rss_before_mb=rss_before * 1024 / 1e6,
                rss_after_mb=rss_after * 1024 / 1e6,
                command="`" + shlex.join(target.argv(0, Path("<tmp>"))[1:]) + "`",
            ).as_dict()
        )
        row = rows[-1]["result"]
        print(
            f"[load] {count} clients: {row['rps']:.0f} req/s, p99 {row['p99_ms']:.1f} ms, "
            f"errors {row['errors']}",
            flush=True,
        )
    return {
        "meta": {
            "clock": "realtime clock at speed 3 (serve's defaults)",
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "processes": processes,
            "cpus": len(os.sched_getaffinity(0)),
            "loadavg_before": os.getloadavg(),
        },
        "rows": rows,
    }


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def per_operation(label: str, align: str, rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """A markdown table of each operation kind's p50 / p99 (and errors, where any): a row per
    ``(name, result)``, ``result`` as ``run_generators`` returns it."""
    kinds = list(KINDS)
    lines = [f"| {label} | " + " | ".join(kinds) + " |", f"|{align}|" + "---:|" * len(kinds)]
    for name, result in rows:
        by = result["by_kind"]
        cells = [
            f"{ms(by[k]['p50_ms'])} / {ms(by[k]['p99_ms'])}"
            + (f" ({by[k]['errors']} err)" if by[k]["errors"] else "")
            for k in kinds
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "## Mixed workload (`python -m bench load`)",
        "",
        f"Each client a CI job with its own key, session after session: upload (3 requests), "
        f"create, {POLLS} polls, {EVENT_LISTS} event lists, list jobs. together-sim on the "
        f"{meta['clock']}; {meta['warmup_s']:g} s warm-up, {meta['duration_s']:g} s measured; "
        f"generator: asyncio + aiohttp in {meta['processes']} process(es) of its own.",
        "",
        "| Clients | req/s | errors | p50 ms | p99 ms | max ms | server cores | generator cores "
        "| RSS before → after | Target (50 clients) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in results["rows"]:
        r = row["result"]
        gen = ", ".join(f"{c:.2f}" for c in r["generator_cpu"])
        target = ""
        if row["clients"] == 50:
            met = (
                r["errors"] == TARGETS["errors"]
                and r["rps"] >= TARGETS["rps"]
                and (r["p99_ms"] or 1e9) <= TARGETS["p99_ms"]
            )
            target = f"0 errors, ≥ 1,000 req/s, p99 ≤ 250 ms {'✅' if met else '❌'}"
        lines.append(
            f"| {row['clients']} | {r['rps']:.0f} | {r['errors']} | {ms(r['p50_ms'])} | "
            f"{ms(r['p99_ms'])} | {ms(r['max_ms'])} | {r['server_cpu']:.2f} | {gen} | "
            f"{row['rss_before_mb']:.0f} → {row['rss_after_mb']:.0f} MB | {target} |"
        )
    lines += ["", "Per operation (p50 / p99 ms, errors):", ""]
    lines += per_operation(
        "Clients", "---:", [(str(row["clients"]), row["result"]) for row in results["rows"]]
    )
    samples = [s for row in results["rows"] for s in row["result"]["error_samples"]]
    lines += [
        "",
        f"- Server: {results['rows'][0]['command'] if results['rows'] else ''}, a fresh one per "
        "row. *server cores*: its CPU time over the measured window (1.00 = one core saturated); "
        "*generator cores*: each generator process's own (near 1.00: the generator, not the "
        "server, is the limit). RSS: the server's process tree after startup and after the load.",
        f"- {meta['cpus']} CPUs; load average {meta['loadavg_before'][0]:.2f} before.",
        *(["- First errors: " + "; ".join(samples)] if samples else []),
        "",
    ]
    return "\n".join(lines)
