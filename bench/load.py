"""The mixed workload: many CI jobs at once against one ``together-sim serve``.

Each simulated client is one CI job with its own key (so its own tenant), repeating one session
back to back until the time is up: the SDK's upload (``POST /v1/files`` answered 302, the ``PUT``
of the bytes, ``POST /v1/files/{id}/preprocess``), ``POST /v1/fine-tunes``, 5 polls of the job,
2 event lists and a job list: 12 requests. The load generator runs in processes of its own
(``python -m bench.load``: asyncio + aiohttp, on uvloop where installed, one connection pool per
client), never in the server's process or the bench's, and measures its own CPU time: a
generator that keeps a core busy is the bottleneck, and its report says so.

A row's figures count the requests *started* inside the measured window (after the warm-up) and
answered; an answer other than the status the SDK needs (302 for the first upload step, 200
elsewhere) or a failed request is an error. ``tests/hostile/test_soak.py`` runs the same
generator and checks that every file and job it created can be read back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.memory import tree_rss_kib
from bench.throughput import cpu_seconds

__all__ = [
    "KINDS",
    "LoadRow",
    "Workload",
    "generate",
    "markdown",
    "measure_load",
    "run_generators",
]

BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
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
_TRAIN_ROWS = 50
_LORA = {"training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16}}


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


def training_bytes(rows: int = _TRAIN_ROWS) -> bytes:
    lines = []
    for i in range(rows):
        messages = [
            {"role": "user", "content": f"What is {i} plus {i}?"},
            {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
        ]
        lines.append(json.dumps({"messages": messages}))
    return ("\n".join(lines) + "\n").encode()


# --- the generator (runs in its own process) ---------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class _Tally:
    start: float  # the measured window, on time.time()
    end: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    samples: list[str] = field(default_factory=list)  # the first few errors, for the report
    created: list[dict[str, str]] = field(default_factory=list)
    sessions: int = 0

    def record(self, kind: str, sent: float, seconds: float, problem: str | None) -> None:
        if not self.start <= sent < self.end:
            return
        if problem is None:
            self.latencies[kind].append(seconds)
            return
        self.errors[kind] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {problem}")


async def _client(origin: str, key: str, body: bytes, tally: _Tally, keep_ids: bool) -> None:
    import aiohttp

    auth = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=2)
    timeout = aiohttp.ClientTimeout(total=60.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def call(kind: str, method: str, url: str, **kwargs: Any) -> _Answer | None:
            wall, sent = time.time(), time.perf_counter()
            try:
                async with http.request(method, url, allow_redirects=False, **kwargs) as response:
                    answer = _Answer(response.status, response.headers, await response.read())
            except (aiohttp.ClientError, TimeoutError) as exc:
                tally.record(kind, wall, 0.0, f"{type(exc).__name__}: {exc}"[:200])
                return None
            seconds = time.perf_counter() - sent
            ok = answer.status == KINDS[kind]
            problem = None if ok else f"{answer.status} {answer.body[:200]!r}"
            tally.record(kind, wall, seconds, problem)
            return answer if ok else None

        form = {"purpose": "fine-tune", "file_name": "train.jsonl", "file_type": "jsonl"}
        v1 = f"{origin}/v1"
        while time.time() < tally.end:
            started = await call(
                "upload: POST /files", "POST", f"{v1}/files", data=form, headers=auth
            )
            if started is None:
                continue
            file_id = started.headers["x-together-file-id"]
            put = await call("upload: PUT", "PUT", started.headers["location"], data=body)
            if put is None:
                continue
            done = await call(
                "upload: preprocess", "POST", f"{v1}/files/{file_id}/preprocess", headers=auth
            )
            if done is None:
                continue
            made = {"key": key, "file": file_id}
            if keep_ids:
                tally.created.append(made)
            job = {"training_file": file_id, "model": BASE_MODEL, "n_epochs": 1, **_LORA}
            created = await call("create", "POST", f"{v1}/fine-tunes", json=job, headers=auth)
            if created is None:
                continue
            job_id = made["job"] = json.loads(created.body)["id"]
            for _ in range(POLLS):
                await call("poll", "GET", f"{v1}/fine-tunes/{job_id}", headers=auth)
            for _ in range(EVENT_LISTS):
                await call("events", "GET", f"{v1}/fine-tunes/{job_id}/events", headers=auth)
            await call("list", "GET", f"{v1}/fine-tunes", headers=auth)
            tally.sessions += 1


async def _generate(
    origin: str, keys: Sequence[str], start_at: float, workload: Workload
) -> dict[str, Any]:
    body = training_bytes()
    window = start_at + workload.warmup_s
    tally = _Tally(start=window, end=window + workload.duration_s)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu: list[float] = []

    async def own_cpu() -> None:  # this process's CPU over the measured window
        await asyncio.sleep(max(0.0, tally.start - time.time()))
        cpu0, wall0 = time.process_time(), time.time()
        await asyncio.sleep(max(0.0, tally.end - time.time()))
        cpu.append((time.process_time() - cpu0) / (time.time() - wall0))

    clients = (_client(origin, k, body, tally, workload.keep_ids) for k in keys)
    await asyncio.gather(own_cpu(), *clients)
    return {
        "latencies": tally.latencies,
        "errors": tally.errors,
        "error_samples": tally.samples,
        "created": tally.created,
        "sessions": tally.sessions,
        "cpu": cpu[0],
    }


def generate(
    origin: str, keys: Sequence[str], start_at: float, workload: Workload
) -> dict[str, Any]:
    """One generator process's share: a client per key, all starting at ``start_at``
    (``time.time()``), so that several processes begin together."""
    try:
        import uvloop

        return uvloop.run(_generate(origin, keys, start_at, workload))
    except ImportError:
        return asyncio.run(_generate(origin, keys, start_at, workload))


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
                "bench.load",
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


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


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
            f"| {row['clients']} | {r['rps']:.0f} | {r['errors']} | {_ms(r['p50_ms'])} | "
            f"{_ms(r['p99_ms'])} | {_ms(r['max_ms'])} | {r['server_cpu']:.2f} | {gen} | "
            f"{row['rss_before_mb']:.0f} → {row['rss_after_mb']:.0f} MB | {target} |"
        )
    lines += ["", "Per operation (p50 / p99 ms, errors):", ""]
    kinds = list(KINDS)
    lines.append("| Clients | " + " | ".join(kinds) + " |")
    lines.append("|---:|" + "---:|" * len(kinds))
    for row in results["rows"]:
        by = row["result"]["by_kind"]
        cells = [
            f"{_ms(by[k]['p50_ms'])} / {_ms(by[k]['p99_ms'])}"
            + (f" ({by[k]['errors']} err)" if by[k]["errors"] else "")
            for k in kinds
        ]
        lines.append(f"| {row['clients']} | " + " | ".join(cells) + " |")
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


def _main() -> None:
    """``python -m bench.load ORIGIN START_AT WORKLOAD_JSON``, the keys as JSON on stdin: one
    generator process. Prints what it measured as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("origin")
    parser.add_argument("start_at", type=float)
    parser.add_argument("workload")
    args = parser.parse_args()
    keys = json.loads(sys.stdin.read())
    workload = Workload(**json.loads(args.workload))
    json.dump(generate(args.origin, keys, args.start_at, workload), sys.stdout)


if __name__ == "__main__":
    _main()
