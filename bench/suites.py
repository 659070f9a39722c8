"""``python -m bench suites``: whole test suites as the work, timed end to end.

Three tables. The ``together`` 2.12.0 sdist's generated suite (``tests/api_resources``, what
Stainless runs against Prism) against ``together-sim serve --mode examples --spec-version
april``, Steady and Prism on the April spec it was generated from; then 3.1.1's (the SDK ``pip
install together`` gives) against the same three on the August spec (the default), with the
server's root as base URL since 3.x sends ``/v1/...``, ``/v2/...`` and ``/v3/...`` itself. One
server at a time: wall time, the server's CPU time over the suite,
pass/fail/skip counts and ratios, so the comparison is the one an SDK's CI would see. The wall
time is mostly the client's (pytest and the SDK, the same for every server); the CPU time is the
server's own share, and moves far less with other load on the machine. Then ``together-sim
contract`` in this process against the stateful simulator with its defaults: the wall time
schemathesis records and its case count. Steady is fetched with ``npm exec`` at run time; when it
cannot be fetched or started the row says why instead of failing the run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import BENCH_DIR, CACHE_DIR
from bench.servers import STEADY_PACKAGE, Target, ensure_prism, prism_target, start, steady_target
from bench.throughput import cpu_seconds

__all__ = ["STEADY_PACKAGE", "markdown", "measure_suites"]

REPO = BENCH_DIR.parent
SIM_EXAMPLES = "together-sim (examples)"
_SUITE_TIMEOUT_S = 900


@dataclass(frozen=True)
class Suite:
    """One SDK's generated suite: its venv, its sdist, the spec version it is run on, and the
    base URL path every server gets (2.x: ``/v1`` on together-sim; 3.x: the root everywhere)."""

    sdk: str
    python: Path
    sdist: Path
    spec_version: str
    sim_prefix: str
    other_prefix: str


SUITES = (
    Suite(
        "2.12.0",
        REPO / ".venv-sdk2" / "bin" / "python",
        REPO / ".cache" / "sdk" / "together-2.12.0",
        "april",
        "/v1",
        "",
    ),
    Suite(
        "3.1.1",
        REPO / ".venv-sdk3" / "bin" / "python",
        REPO / ".cache" / "sdk" / "together-3.1.1",
        "august",
        "",
        "",
    ),
)


def _sim_examples_target(suite: Suite) -> Target:
    script = Path(sys.executable).with_name("together-sim")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mock_server"]

    def argv(port: int, workdir: Path) -> list[str]:
        return [
            *command,
            *("serve", "--mode", "examples", "--spec-version", suite.spec_version),
            *("--host", "127.0.0.1", "--port", str(port)),
        ]

    return Target(name=SIM_EXAMPLES, argv=argv, prefix=suite.sim_prefix)


def _run_sdk_suite(suite: Suite, base_url: str) -> dict[str, Any]:
    """The suite as ``tests/e2e/test_sdk*_generated_suite.py`` run it: from the sdist's root,
    a clean environment, no xdist, so the wall time is one process doing every test."""
    with tempfile.TemporaryDirectory(prefix="bench-sdk-home-") as home:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "LANG": "C.UTF-8",
            "TEST_API_BASE_URL": base_url,
        }
        argv = [str(suite.python), "-m", "pytest", "tests/api_resources", "-q", "-n", "0"]
        started = time.perf_counter()
        done = subprocess.run(
            [*argv, "-p", "no:cacheprovider"],
            cwd=suite.sdist,
            env=env,
            capture_output=True,
            text=True,
            timeout=_SUITE_TIMEOUT_S,
            check=False,
        )
        wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    last = lines[-1] if lines else done.stderr.strip()[-300:]
    counts = dict.fromkeys(("passed", "failed", "skipped", "error"), 0)
    for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)\b", last):
        counts[word.rstrip("s") if word.startswith("error") else word] += int(n)
    return {"wall_s": wall, "returncode": done.returncode, "summary": last, **counts}


def _sdk_rows(suite: Suite) -> dict[str, dict[str, Any]]:
    from openapi.locate import SpecError, find_spec_path

    if not suite.python.exists() or not (suite.sdist / "tests" / "api_resources").is_dir():
        why = f"the together {suite.sdk} sdist and its venv are missing (`make install` makes them)"
        return {SIM_EXAMPLES: {"not_run": why}}
    try:
        spec = find_spec_path(version=suite.spec_version, allow_download=False)
    except SpecError as exc:
        return {SIM_EXAMPLES: {"not_run": str(exc)}}
    targets: list[Target | tuple[str, str]] = [_sim_examples_target(suite)]
    npm = shutil.which("npm")
    targets.append(steady_target(npm, spec) if npm else ("Steady", "npm is not on PATH"))
    try:
        targets.append(prism_target(ensure_prism(), spec))
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        targets.append(("Prism", f"cannot install Prism: {exc}"))
    rows: dict[str, dict[str, Any]] = {}
    for target in targets:  # one server at a time
        if isinstance(target, tuple):
            rows[target[0]] = {"not_run": target[1]}
            continue
        print(f"[{target.name}] start, then the SDK {suite.sdk} generated suite ...", flush=True)
        try:
            server = start(target, timeout_s=180.0)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            rows[target.name] = {"not_run": f"could not start: {first}"}
            continue
        try:
            before = cpu_seconds(server.pid)
            prefix = suite.sim_prefix if target.name == SIM_EXAMPLES else suite.other_prefix
            counts = _run_sdk_suite(suite, server.origin + prefix)
            rows[target.name] = {
                "startup_s": server.startup_s,
                # The server's own share: the suite's wall time is mostly the client's (pytest,
                # the SDK), the same for every server, and moves with other load on the machine.
                "server_cpu_s": cpu_seconds(server.pid) - before,
                **counts,
            }
        finally:
            server.stop()
        print(f"[{target.name}] {rows[target.name]['summary']}", flush=True)
    return rows


def _contract_row() -> dict[str, Any]:
    """``together-sim contract`` with no flags (stateful simulator in this process, default
    examples and phases), through its own command so the figures are the ones it prints."""
    import json

    from contracts.cli import configure, run

    parser = argparse.ArgumentParser(prog="together-sim contract")
    configure(parser)
    with tempfile.TemporaryDirectory(prefix="bench-contract-") as report:
        args = parser.parse_args(["--report", report])
        print("[contract] together-sim contract (in process, stateful) ...", flush=True)
        started = time.perf_counter()
        status = run(args)
        outer = time.perf_counter() - started
        result = json.loads((Path(report) / "result.json").read_text())
    return {
        "exit_status": status,
        "wall_time_s": result["wall_time_s"],
        "outer_wall_s": outer,
        "cases": result["cases"],
        "phase_cases": result["phase_cases"],
        "operations": result["operations"],
        "ok": result["ok"],
    }


def measure_suites() -> dict[str, Any]:
    return {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "cpus": len(os.sched_getaffinity(0)),
            "loadavg_before": os.getloadavg(),
            "steady_package": STEADY_PACKAGE,
            "prism_cache": str(CACHE_DIR),
        },
        "sdk_suites": {suite.sdk: _sdk_rows(suite) for suite in SUITES},
        "contract": _contract_row(),
    }


def _ratio(sim: dict[str, Any], other: dict[str, Any], key: str = "wall_s") -> str:
    if key not in sim or key not in other or not sim[key]:
        return "—"
    return f"{other[key] / sim[key]:.2f}×"


def _suite_lines(suite: Suite, rows: dict[str, dict[str, Any]]) -> list[str]:
    sim = rows.get(SIM_EXAMPLES, {})
    lines = [
        f"### together {suite.sdk} generated suite (`pytest tests/api_resources`, one process, "
        f"{suite.spec_version} spec)",
        "",
        "| Server | Wall time | Server CPU | Passed | Failed | Skipped | Errors | sim advantage "
        "(wall / CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        if "not_run" in row:
            lines.append(f"| {name} | not run: {row['not_run']} | | | | | | |")
            continue
        if name == SIM_EXAMPLES:
            ratio = "1.00× (baseline of the others)"
        else:
            ratio = f"{_ratio(sim, row)} / {_ratio(sim, row, 'server_cpu_s')}"
        lines.append(
            f"| {name} | {row['wall_s']:.1f} s | {row['server_cpu_s']:.2f} s | {row['passed']} | "
            f"{row['failed']} | {row['skipped']} | {row['error']} | {ratio} |"
        )
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    lines = ["## Whole suites", ""]
    for suite in SUITES:
        lines += _suite_lines(suite, results["sdk_suites"].get(suite.sdk, {}))
    c = results["contract"]
    phases = ", ".join(f"{p} {n}" for p, n in c["phase_cases"].items())
    lines += [
        "### Schemathesis: `together-sim contract` (in process, stateful, defaults)",
        "",
        "| Operations | Cases | Wall time (recorded) | Checks held |",
        "|---:|---:|---:|---|",
        f"| {c['operations']} | {c['cases']} ({phases}) | {c['wall_time_s']:.1f} s | "
        f"{'yes' if c['ok'] else 'no (exit ' + str(c['exit_status']) + ')'} |",
        "",
        f"- sim advantage = the other server's wall time (server CPU time) ÷ together-sim's. "
        "Server CPU = user + system time of the server's process tree during the suite. "
        f"Load average before: "
        f"{results['meta']['loadavg_before'][0]:.2f} on {results['meta']['cpus']} CPUs.",
        "",
    ]
    return "\n".join(lines)
