"""``python -m bench`` (``make bench``): see ``bench/README.md``. ``python -m bench servers`` runs
only together-sim beside Prism (and Steady's startup), ``python -m bench trainer`` only the trainer
beside TRL, ``python -m bench suites`` whole test suites (the SDK 2.12.0 generated suite,
schemathesis) as the work, ``python -m bench load`` the mixed workload of many clients,
``python -m bench scaling`` that workload on SQLite and on 1, 2, 4 replicas sharing PostgreSQL,
``python -m bench validation`` the dataset check beside both SDKs' ``check_file``."""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx

from bench.load import markdown as load_markdown
from bench.load import measure_load
from bench.memory import descendants, tree_rss_kib
from bench.report import SIM, markdown, summary, write
from bench.running import measure_running_job
from bench.scaling import markdown as scaling_markdown
from bench.scaling import measure_scaling
from bench.servers import (
    Running,
    Target,
    ensure_prism,
    prism_target,
    prism_version,
    sim_target,
    start,
    steady_target,
)
from bench.startup import measure_startup
from bench.suites import markdown as suites_markdown
from bench.suites import measure_suites
from bench.throughput import LoadSettings, ensure_wrk, measure_throughput
from bench.trainer import TrainerSettings, measure_trainers
from bench.trainer import markdown as trainer_markdown
from bench.validation import markdown as validation_markdown
from bench.validation import measure_validation
from bench.workflow import (
    STEPS,
    WorkflowRun,
    create_job,
    raw_client,
    raw_sequence,
    sdk_client,
    sdk_workflow,
    write_training_file,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "part",
        nargs="?",
        default="all",
        choices=("all", "servers", "trainer", "suites", "load", "scaling", "validation"),
        help="what to run",
    )
    parser.add_argument("--reps", type=int, default=5, help="cold starts per server")
    parser.add_argument("--workflows", type=int, default=20, help="timed workflows per server")
    parser.add_argument("--duration", type=float, default=10.0, help="load test seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="load warm-up seconds")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=10, help="concurrent connections")
    parser.add_argument(
        "--load-clients", default="50,200", help="mixed workload: client counts, one row each"
    )
    parser.add_argument("--load-duration", type=float, default=20.0, help="mixed workload seconds")
    parser.add_argument(
        "--load-processes", type=int, default=1, help="mixed workload: generator processes"
    )
    parser.add_argument(
        "--replicas", default="1,2,4", help="scaling: replica counts on PostgreSQL, one row each"
    )
    parser.add_argument(
        "--validation-runs", type=int, default=5, help="dataset check: processes per checker"
    )
    parser.add_argument("--train-reps", type=int, default=3, help="runs of each trainer per size")
    parser.add_argument("--train-threads", type=int, default=1, help="torch threads, both trainers")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 starts, 5 workflows, 3 s load, 5 s mixed workload; trainers: 2 runs each, a "
        "quarter of the steps",
    )
    return parser


def _mb(kib: int) -> float:
    return kib * 1024 / 1e6


def _steps(runs: list[WorkflowRun]) -> dict[str, float]:
    return {step: summary([r.seconds[step] for r in runs])["median"] for step in STEPS}


def _warm_up(client: httpx.Client, server: Running, train: Path) -> str:
    """Two raw sequences, then a job kept for the load test (created and read once, so on the
    instant clock it has completed), then 200 reads of it. Returns the URL under load."""
    for _ in range(2):
        raw_sequence(client, server, train)
    url = create_job(client, server, train)
    for _ in range(200):
        client.get(url).raise_for_status()
    return url


def _exercise(
    target: Target, train: Path, args: argparse.Namespace, load: LoadSettings, wrk: str | None
) -> dict[str, Any]:
    print(f"[{target.name}] start, warm-up, idle RSS ...", flush=True)
    server = start(target)
    try:
        client = raw_client(server)
        url = _warm_up(client, server, train)
        time.sleep(1.0)  # let the warm-up settle (GC, logging) before reading RSS
        rss_idle = tree_rss_kib(server.pid)
        processes = 1 + len(descendants(server.pid))
        retrieve_bytes = len(client.get(url).content)

        sdk = sdk_client(server)
        if target.name == SIM:
            print(f"[{target.name}] SDK workflow x {args.workflows} ...", flush=True)
            sdk_workflow(sdk, train)  # warm-up
            sdk_runs = [sdk_workflow(sdk, train) for _ in range(args.workflows)]
        else:
            print(f"[{target.name}] SDK workflow, once, every step tried ...", flush=True)
            sdk_runs = [sdk_workflow(sdk, train, keep_going=True)]
        sdk.close()

        print(f"[{target.name}] raw HTTP sequence x {args.workflows} ...", flush=True)
        raw_runs = [raw_sequence(client, server, train) for _ in range(args.workflows)]
        client.close()

        print(f"[{target.name}] load: {url}", flush=True)
        throughput = measure_throughput(url, load, wrk, server.pid)
        rss_after = tree_rss_kib(server.pid)
    finally:
        server.stop()
    return {
        "sdk_workflow": {
            "runs": len(sdk_runs),
            "total_s": summary([r.total for r in sdk_runs]),
            "steps_s": _steps(sdk_runs),
            "errors": sdk_runs[-1].errors,
        },
        "raw_sequence": {
            "runs": len(raw_runs),
            "total_s": summary([r.total for r in raw_runs]),
            "steps_s": _steps(raw_runs),
            "bytes_per_run": raw_runs[-1].received,
        },
        "throughput": throughput.as_dict(),
        "throughput_url": url,
        "retrieve_bytes": retrieve_bytes,
        "rss_idle_mb": _mb(rss_idle),
        "rss_after_load_mb": _mb(rss_after),
        "processes": processes,
    }


def _running_jobs(directory: Path, load: LoadSettings, wrk: str | None) -> dict[str, Any]:
    """A running job's poll on the manual clock: with kept views (the default server), then on a
    together-sim started with ``--no-keep-views`` (the full path)."""
    rows: dict[str, Any] = {}
    for key, keep_views in (("running_job", True), ("running_job_full", False)):
        how = "kept body" if keep_views else "full path (--no-keep-views)"
        print(f"[together-sim] a running job on the manual clock, {how} ...", flush=True)
        rows[key] = measure_running_job(directory, load, wrk, keep_views=keep_views)
    return rows


def _busy_cores(seconds: float = 1.0) -> float:
    """Cores kept busy by whatever else runs on this machine, sampled from /proc/stat."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    cores = len(os.sched_getaffinity(0))
    return cores * (busy1 - busy0) / max(1, total1 - total0)


def _steady(spec: Path) -> tuple[Target | None, str]:
    """Steady's target, after one start that fetches it into npm's cache (so no timed start
    downloads it); or None and why it cannot run."""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not on PATH"
    target = steady_target(npm, spec)
    try:
        start(target, timeout_s=300.0).stop()
    except RuntimeError as exc:
        return None, f"could not start: {str(exc).splitlines()[0]}"
    return target, ""


def _node_version() -> str:
    try:
        done = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "missing"
    return done.stdout.strip()


def _trainer_settings(args: argparse.Namespace) -> TrainerSettings:
    settings = TrainerSettings(reps=args.train_reps, threads=args.train_threads)
    if args.quick:
        cpu = tuple(replace(p, steps=p.steps // 4) for p in settings.cpu)
        settings = replace(settings, reps=2, cpu=cpu, gpu_steps=settings.gpu_steps // 4)
    return settings


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.reps, args.workflows, args.duration, args.warmup = 2, 5, 3.0, 1.0
        args.load_duration = 5.0
    results: dict[str, Any] = {}
    sections: list[str] = []
    if args.part in ("all", "servers"):
        results = _servers(args, argv)
        sections.append(markdown(results))
    if args.part in ("all", "trainer"):
        results["trainer"] = measure_trainers(_trainer_settings(args))
        sections.append(trainer_markdown(results["trainer"]))
    if args.part in ("all", "suites"):
        results["suites"] = measure_suites()
        sections.append(suites_markdown(results["suites"]))
    if args.part in ("all", "load"):
        results["load"] = measure_load(
            [int(n) for n in args.load_clients.split(",")],
            duration_s=args.load_duration,
            warmup_s=1.0 if args.quick else 3.0,
            processes=args.load_processes,
        )
        sections.append(load_markdown(results["load"]))
    if args.part in ("all", "scaling"):
        results["scaling"] = measure_scaling(
            [int(n) for n in args.replicas.split(",")],
            duration_s=args.load_duration,
            warmup_s=1.0 if args.quick else 3.0,
            processes=args.load_processes,
        )
        sections.append(scaling_markdown(results["scaling"]))
    if args.part in ("all", "validation"):
        results["validation"] = measure_validation(runs=2 if args.quick else args.validation_runs)
        sections.append(validation_markdown(results["validation"]))
    text = "\n".join(sections)
    print()
    print(text)
    for path in write(results, text, name="bench" if args.part == "all" else args.part):
        print(f"wrote {path}")
    return 0


def _servers(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    """together-sim beside Prism: startup, the SDK workflow, throughput and idle RSS."""
    load = LoadSettings(
        duration_s=args.duration,
        warmup_s=args.warmup,
        threads=args.threads,
        connections=args.connections,
    )

    from openapi.locate import find_spec_path, sha256_file

    spec = find_spec_path(allow_download=False)
    sim, prism = sim_target("instant"), prism_target(ensure_prism(), spec)
    print("Steady: fetching it with npm exec (cached after the first run) ...", flush=True)
    steady, steady_why = _steady(spec)
    wrk = ensure_wrk()
    import together  # the SDK's import time stays out of every figure

    # Bytecode as an installed package has it: with PYTHONDONTWRITEBYTECODE set (or sources newer
    # than their .pyc), every cold start would otherwise compile mock_server again.
    repo = Path(__file__).resolve().parent.parent
    for package in ("mock_server", "openapi"):
        compileall.compile_dir(repo / package, quiet=1)
    loadavg_before = os.getloadavg()
    busy_before = _busy_cores()
    if busy_before > 0.25:
        print(
            f"note: {busy_before:.2f} cores busy with other work before the run (load average "
            f"{loadavg_before[0]:.2f}): it will show in the figures",
            flush=True,
        )

    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        train = write_training_file(Path(tmp))
        print(f"startup: {args.reps} cold starts each ...", flush=True)
        startup = measure_startup([sim, prism, *([steady] if steady else [])], args.reps)
        servers: dict[str, dict[str, Any]] = {}
        for target in (sim, prism):  # one server at a time, never two at once
            servers[target.name] = {
                "startup_s": summary(startup[target.name]),
                **_exercise(target, train, args, load, wrk),
            }
            if target.name == SIM:  # two more together-sims, again one at a time
                servers[SIM].update(_running_jobs(Path(tmp), load, wrk))
    for name in servers:
        servers[name]["startup_samples_s"] = startup[name]

    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "argv": sys.argv[1:] if argv is None else argv,
            "startup_reps": args.reps,
            "workflows": args.workflows,
            "load": asdict(load),
            "cpus": len(os.sched_getaffinity(0)),
            "loadavg_before": loadavg_before,
            "busy_cores_before": busy_before,
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
            "node": _node_version(),
            "together_sdk": together.__version__,
            "prism_version": prism_version(),
            "spec": str(spec),
            "spec_sha256": sha256_file(spec),
            "sim_command": "`" + shlex.join(sim.argv(0, Path("<tmp>"))[1:]) + "`",
            "prism_command": "`prism " + shlex.join(prism.argv(0, Path("<tmp>"))[1:]) + "`",
        },
        "servers": servers,
        # Steady's startup, in the same interleaved starts (its other figures: `suites`).
        "steady": (
            {"startup_s": summary(startup["Steady"]), "startup_samples_s": startup["Steady"]}
            if steady
            else {"not_run": steady_why}
        ),
    }
    return results


if __name__ == "__main__":
    sys.exit(main())
