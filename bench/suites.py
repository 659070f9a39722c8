"""``python -m bench suites``: whole test suites as the work, timed end to end.

Three tables. The ``together`` 2.12.0 sdist's generated suite (``tests/api_resources``, what
Stainless runs against Prism) against ``together-sim serve --mode examples --spec-version
april``, Steady and Prism on the April spec it was generated from; then 3.1.1's (the SDK ``pip
install together`` gives) against the same three on the August spec (the default), with the
server's root as base URL since 3.x sends ``/v1/...``, ``/v2/...`` and ``/v3/...`` itself
(Steady and Prism, which mount the spec's paths as written and have no base-path option, get a
copy of the spec whose paths carry their servers' ``/v1`` or ``/v2``). One server at a time:
wall time, the server's CPU time over the suite, pass/fail/skip counts and ratios, so the
comparison is the one an SDK's CI would see. The wall time is mostly the client's (pytest and
the SDK, the same for every server); the CPU time is the server's own share, and moves far less
with other load on the machine. Then ``together-sim contract`` in this process against the
stateful simulator with its defaults: the wall time schemathesis records and its case count.
Steady is fetched with ``npm exec`` at run time; when it cannot be fetched or started the row
says why instead of failing the run.
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
from bench.servers import (
    STEADY_PACKAGE,
    Running,
    Target,
    ensure_prism,
    prism_target,
    start,
    steady_target,
    write_versioned_spec,
)
from bench.throughput import cpu_seconds

__all__ = ["STEADY_PACKAGE", "SUITES", "Suite", "markdown", "measure_suites", "mock_spec"]

REPO = BENCH_DIR.parent
SIM_EXAMPLES = "together-sim (examples)"
_SUITE_TIMEOUT_S = 900


@dataclass(frozen=True)
class Suite:
    """One SDK's generated suite: its venv, its sdist, the spec version it is run on, and
    whether the SDK puts the API's version in its paths itself (3.x: ``/v1/...``, ``/v2/...``).

    A 2.x client's base URL ends in the server's prefix (``/v1`` on together-sim, none on Steady
    and Prism, which serve the spec's paths as written). A 3.x client's is every server's root,
    and Steady and Prism get the spec with each operation's server path ahead of its path
    (``servers.write_versioned_spec``), since neither has a base-path option of its own."""

    sdk: str
    python: Path
    sdist: Path
    spec_version: str
    versioned: bool

    def base_url(self, server: Running) -> str:
        """What ``TEST_API_BASE_URL`` is for the suite on ``server``."""
        return server.origin if self.versioned else server.origin + server.target.prefix


SUITES = (
    Suite(
        "2.12.0",
        REPO / ".venv-sdk2" / "bin" / "python",
        REPO / ".cache" / "sdk" / "together-2.12.0",
        "april",
        versioned=False,
    ),
    Suite(
        "3.1.1",
        REPO / ".venv-sdk3" / "bin" / "python",
        REPO / ".cache" / "sdk" / "together-3.1.1",
        "august",
        versioned=True,
    ),
)


def _sim_examples_target(suite: Suite) -> Target:
    """together-sim in examples mode on the suite's spec: it serves ``/v1/...`` (and ``/v2/...``,
    ``/v3/...``) whichever client asks, so it is probed at ``/v1/fine-tunes``."""
    script = Path(sys.executable).with_name("together-sim")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mock_server"]

    def argv(port: int, workdir: Path) -> list[str]:
        return [
            *command,
            *("serve", "--mode", "examples", "--spec-version", suite.spec_version),
            *("--host", "127.0.0.1", "--port", str(port)),
        ]

    return Target(name=SIM_EXAMPLES, argv=argv, prefix="/v1")


def mock_spec(suite: Suite, spec: Path, scratch: Path) -> tuple[Path, str]:
    """The spec Steady and Prism serve for ``suite``, and the prefix their paths then carry:
    the published spec as it is for 2.x (no prefix), for 3.x a copy in ``scratch`` whose paths
    carry their servers' (``/v1``, ``/v2``)."""
    if not suite.versioned:
        return spec, ""
    return write_versioned_spec(spec, scratch / f"{spec.stem}-versioned.json"), "/v1"


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
        published = find_spec_path(version=suite.spec_version, allow_download=False)
    except SpecError as exc:
        return {SIM_EXAMPLES: {"not_run": str(exc)}}
    with tempfile.TemporaryDirectory(prefix="bench-spec-") as scratch:
        spec, prefix = mock_spec(suite, published, Path(scratch))
        targets: list[Target | tuple[str, str]] = [_sim_examples_target(suite)]
        npm = shutil.which("npm")
        targets.append(
            steady_target(npm, spec, prefix=prefix) if npm else ("Steady", "npm is not on PATH")
        )
        try:
            targets.append(prism_target(ensure_prism(), spec, prefix=prefix))
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            targets.append(("Prism", f"cannot install Prism: {exc}"))
        return _run_targets(suite, targets)  # while the spec copy is there


def _run_targets(
    suite: Suite, targets: list[Target | tuple[str, str]]
) -> dict[str, dict[str, Any]]:
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
            counts = _run_sdk_suite(suite, suite.base_url(server))
            row = {
                "startup_s": server.startup_s,
                # The server's own share: the suite's wall time is mostly the client's (pytest,
                # the SDK), the same for every server, and moves with other load on the machine.
                "server_cpu_s": cpu_seconds(server.pid) - before,
                **counts,
            }
        finally:
            server.stop()
        rows[target.name] = row
        print(f"[{target.name}] {row['summary']}", flush=True)
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
