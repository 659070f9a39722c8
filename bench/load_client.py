"""One load generator process of the mixed workload (``bench/load.py``): ``python -m
bench.load_client ORIGIN START_AT WORKLOAD_JSON``, the clients' keys as JSON on stdin. Each key is
a client (a CI job) repeating the session until the time is up; the process prints what it
measured, and how much CPU it used itself, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.load import EVENT_LISTS, KINDS, POLLS, Workload

__all__ = ["BASE_MODEL", "generate", "training_bytes"]

BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
_TRAIN_ROWS = 50
_LORA = {"training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16}}


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
