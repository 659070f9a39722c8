"""Throughput of ``GET /fine-tunes/{id}`` on a job that is still running, both ways.

together-sim keeps the rendered body of every job until its next change (next milestone, next
step or next tick of ``progress.seconds_remaining``; ``FineTuning.job_view`` /
``FineTuning.kept_view`` and ``unchanged_until`` in ``mock_server/fine_tuning/machine.py``), and
its ASGI fast path (``mock_server/fine_tuning/poll_front.py``, ``KeptJobViews``) answers a poll
from that body before FastAPI's routing runs. Two measurements, each on its own together-sim
started with ``--clock manual --speed 1``, one after the other:

- **kept body** (the default server): the clock never moves during the load, so the body kept
  at the first read stays valid for the whole run. On the realtime clock ``seconds_remaining``
  ticks every second, so there a kept body lasts at most 1 s and a poller also pays the full
  path about once a second.
- **full path** (``--no-keep-views``): no body is kept, so every poll goes through routing,
  dependencies, the lazy ``advance`` of the job, reading its events and a fresh render.

In both the job is created, the clock moved until the job is ``running``, and then nothing
moves it, so it stays running through the whole load test. Its status is read before and after.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import httpx

from bench.memory import tree_rss_kib
from bench.servers import Running, Target, sim_target, start
from bench.throughput import LoadSettings, measure_throughput
from bench.workflow import create_job, raw_client, write_training_file

__all__ = ["RUNNING_ROWS", "SPEED", "measure_running_job", "running_target"]

SPEED = 1.0  # the real service's pace: training starts 50 s in, one step takes 3 s
RUNNING_ROWS = 1000  # without packing, 1000 rows / batch 8 = 125 steps (375 s of training)
_FIRST_ADVANCE_S = 60.0
_MORE_S, _MAX_ADVANCE_S = 10.0, 600.0


def _status(client: httpx.Client, url: str) -> dict[str, Any]:
    body = client.get(url).raise_for_status().json()
    return {"status": body["status"], "steps_completed": body.get("steps_completed")}


def _running_job(client: httpx.Client, server: Running, train: Path) -> tuple[str, float]:
    """Create a long job and move the manual clock until it is ``running``. Returns its URL and
    how far the clock was moved."""
    url = create_job(client, server, train, packing=False)
    advanced, step = 0.0, _FIRST_ADVANCE_S
    while advanced < _MAX_ADVANCE_S:
        client.post(f"{server.origin}/_sim/advance", json={"seconds": step}).raise_for_status()
        advanced += step
        status = _status(client, url)["status"]
        if status == "running":
            return url, advanced
        if status not in ("pending", "queued"):
            break
        step = _MORE_S
    raise RuntimeError(f"the job is {status} after advancing {advanced:.0f} s, not running")


def running_target(*, keep_views: bool) -> Target:
    """The together-sim these rows run on: manual clock, speed 1, kept views on or off."""
    return sim_target("manual", speed=SPEED, keep_views=keep_views)


def measure_running_job(
    directory: Path, load: LoadSettings, wrk: str | None, *, keep_views: bool
) -> dict[str, Any]:
    """Start together-sim on the manual clock (with ``--no-keep-views`` unless ``keep_views``),
    load a running job's ``GET``, stop it."""
    (directory / "running-job").mkdir(exist_ok=True)
    train = write_training_file(directory / "running-job", rows=RUNNING_ROWS)
    path = "kept body" if keep_views else "full path, --no-keep-views"
    target = running_target(keep_views=keep_views)
    server = start(target)
    try:
        client = raw_client(server)
        url, advanced = _running_job(client, server, train)
        for _ in range(200):  # the same warm-up reads as the ended job gets
            client.get(url).raise_for_status()
        before = _status(client, url)
        retrieve_bytes = len(client.get(url).content)
        print(f"[together-sim, manual clock, {path}] load: {url} ({before['status']})", flush=True)
        throughput = measure_throughput(url, load, wrk, server.pid)
        after = _status(client, url)
        rss_after = tree_rss_kib(server.pid)
        client.close()
    finally:
        server.stop()
    return {
        "throughput": throughput.as_dict(),
        "throughput_url": url,
        "clock": f"manual clock, speed {SPEED:g}",
        "keep_views": keep_views,
        "command": "`" + shlex.join(target.argv(0, Path("<tmp>"))[1:]) + "`",
        "advanced_s": advanced,
        "before": before,
        "after": after,
        "still_running": before["status"] == after["status"] == "running",
        "retrieve_bytes": retrieve_bytes,
        "rss_after_load_mb": rss_after * 1024 / 1e6,
    }
