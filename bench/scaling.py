"""The shared deployment's scaling: the load benchmark's mixed workload (``bench/load.py``) against
one ``together-sim serve`` on SQLite, then 1, 2 and 4 replicas on one PostgreSQL, in one run.

Replicas are ``serve --workers N --database-url ...``: N uvicorn worker processes accepting on
one port, the kernel handing each new connection to one of them, as a load balancer that
balances connections would. Each client of the workload keeps its connections, so a client's
session mostly stays on one replica, and the jobs, files and events it reads were written by
whichever replica took the write. The PostgreSQL server is a throwaway cluster on loopback
(``mock_server/testing/postgres.py``), a fresh database per row; its own CPU and memory are
reported beside the simulator's, since on one machine they compete for the same cores.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.load import Workload, ms, per_operation, run_generators
from bench.memory import tree_rss_kib
from bench.servers import Target, sim_target, start

__all__ = ["markdown", "measure_scaling"]


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _row(name: str, target: Target, workload: Workload, database_pid: int | None) -> dict[str, Any]:
    from bench.throughput import cpu_seconds

    print(f"[scaling] {name}: {workload.clients} clients ...", flush=True)
    server = start(target)
    try:
        rss_before = tree_rss_kib(server.pid)
        db_cpu0 = cpu_seconds(database_pid) if database_pid else 0.0
        result = run_generators(server.origin, workload, server_pid=server.pid)
        db_cpu = cpu_seconds(database_pid) - db_cpu0 if database_pid else None
        rss_after = tree_rss_kib(server.pid)
        db_rss = tree_rss_kib(database_pid) if database_pid else None
    finally:
        server.stop()
    whole = workload.warmup_s + workload.duration_s  # the database's CPU: over the whole run
    row = {
        "name": name,
        "result": {k: v for k, v in result.items() if k != "created"},
        "rss_before_mb": rss_before * 1024 / 1e6,
        "rss_after_mb": rss_after * 1024 / 1e6,
        "database_cpu": None if db_cpu is None else db_cpu / whole,
        "database_rss_mb": None if db_rss is None else db_rss * 1024 / 1e6,
        "command": "`" + shlex.join(target.argv(0, Path("<tmp>"))[1:]) + "`",
    }
    print(
        f"[scaling] {name}: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.1f} ms, "
        f"errors {result['errors']}",
        flush=True,
    )
    return row


def measure_scaling(
    replicas: Sequence[int] = (1, 2, 4),
    *,
    clients: int = 50,
    duration_s: float = 20.0,
    warmup_s: float = 3.0,
    processes: int = 1,
) -> dict[str, Any]:
    """One row for SQLite and one per replica count on PostgreSQL, each on a fresh server (and
    database), one after the other. Without PostgreSQL on this machine, the SQLite row alone and
    the reason."""
    from mock_server.testing.postgres import PostgresMissing, throwaway_cluster

    workload = Workload(clients, duration_s, warmup_s, processes)
    rows = [_row("SQLite, 1 process", sim_target("realtime"), workload, None)]
    missing = None
    with ExitStack() as stack:
        try:
            cluster = stack.enter_context(throwaway_cluster())
        except PostgresMissing as exc:
            missing = str(exc)
        else:
            database_pid = _postmaster_pid(cluster.data_dir)
            for count in replicas:
                url = cluster.create_database(f"scaling_{count}")
                target = sim_target(
                    "realtime", extra_args=("--database-url", url, "--workers", str(count))
                )
                name = f"PostgreSQL, {count} replica{'s' if count > 1 else ''}"
                rows.append(_row(name, target, workload, database_pid))
    return {
        "meta": {
            "clients": clients,
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "processes": processes,
            "cpus": len(os.sched_getaffinity(0)),
            "loadavg_before": os.getloadavg(),
            "postgres_missing": missing,
        },
        "rows": rows,
    }


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "## Replicas on PostgreSQL (`python -m bench scaling`)",
        "",
        f"The mixed workload of the load benchmark ({meta['clients']} clients; "
        f"{meta['warmup_s']:g} s warm-up, {meta['duration_s']:g} s measured), on the realtime "
        "clock: one process on SQLite, then `serve --workers N` on one PostgreSQL (a throwaway "
        "cluster on loopback, a fresh database per row).",
        "",
        "| Deployment | req/s | errors | p50 ms | p99 ms | max ms | simulator cores "
        "| PostgreSQL cores | simulator RSS before → after | PostgreSQL RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in results["rows"]:
        r = row["result"]
        db_cpu = "—" if row["database_cpu"] is None else f"{row['database_cpu']:.2f}"
        db_rss = "—" if row["database_rss_mb"] is None else f"{row['database_rss_mb']:.0f} MB"
        lines.append(
            f"| {row['name']} | {r['rps']:.0f} | {r['errors']} | {ms(r['p50_ms'])} | "
            f"{ms(r['p99_ms'])} | {ms(r['max_ms'])} | {r['server_cpu']:.2f} | {db_cpu} | "
            f"{row['rss_before_mb']:.0f} → {row['rss_after_mb']:.0f} MB | {db_rss} |"
        )
    lines += ["", "Per operation (p50 / p99 ms, errors):", ""]
    lines += per_operation(
        "Deployment", "---", [(row["name"], row["result"]) for row in results["rows"]]
    )
    lines += [
        "",
        f"- {meta['cpus']} CPUs, shared by the simulator, PostgreSQL and the load generator; "
        f"load average {meta['loadavg_before'][0]:.2f} before. *simulator cores*: the CPU of "
        "the server's process tree (the supervisor and its workers) over the measured window; "
        "*PostgreSQL cores*: the cluster's over the whole run. PostgreSQL's RSS is the sum over "
        "its processes, each counting the shared buffers it touched, so it overstates.",
        *(
            [f"- No PostgreSQL rows: {meta['postgres_missing']}"]
            if meta["postgres_missing"]
            else []
        ),
        *[f"- {row['name']}: {row['command']}" for row in results["rows"]],
        "",
    ]
    return "\n".join(lines)
