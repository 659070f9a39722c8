"""The table: both servers side by side, with together-sim's advantage as a ratio, printed as
markdown and written with the raw figures to ``bench/results/``."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import RESULTS_DIR

__all__ = ["PRISM", "SIM", "TARGETS", "markdown", "summary", "write"]

SIM, PRISM = "together-sim", "Prism"
TARGETS = {"startup_median_s": 0.4, "throughput_ratio": 5.0, "rss_idle_mb": 100.0}


def summary(samples: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def _ratio(sim: float | None, prism: float | None, *, higher_is_better: bool) -> float | None:
    if not sim or not prism:
        return None
    return sim / prism if higher_is_better else prism / sim


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def _cores(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.2f}"


def _step_table(sim: dict[str, Any], prism: dict[str, Any]) -> list[str]:
    header = "| Step | SDK on together-sim | raw on together-sim | raw on Prism |"
    lines = ["## Per step, median ms", "", header, "|---|---:|---:|---:|"]
    sdk, raw, p_raw = (
        sim["sdk_workflow"]["steps_s"],
        sim["raw_sequence"]["steps_s"],
        prism["raw_sequence"]["steps_s"],
    )
    for step in raw:
        lines.append(f"| {step} | {_ms(sdk.get(step))} | {_ms(raw[step])} | {_ms(p_raw[step])} |")
    return [*lines, ""]


def _met(ok: bool) -> str:
    return "✅" if ok else "❌"


KEPT_RUNNING_NOTE = (
    "manual clock: valid for the whole run; on the realtime clock a kept body lasts at most 1 s"
)


def _running_notes(kept: dict[str, Any] | None, full: dict[str, Any] | None) -> list[str]:
    if kept is None and full is None:
        return []
    notes = [
        "- Three together-sim throughput rows, each on its own server, one at a time. *Ended "
        "job (kept body)*: a completed job on the instant clock; its body never changes, so the "
        "ASGI fast path (`fine_tuning/poll_front.py`) answers every poll "
        "from it before FastAPI routing. *Running job*: a job still running on a manual-clock "
        "server, moved until it was running, then left alone. A live job's body is kept until "
        "its next change (next milestone, step or tick of `progress.seconds_remaining`); the "
        "manual clock never moves during the load, so the *kept body* row is served from one "
        "body for the whole run. On the realtime clock `seconds_remaining` ticks every second, "
        "so there the server renders a live job afresh about once a second and answers the "
        "polls in between from the kept body; the *full path* row (`--no-keep-views`: "
        "routing, dependencies, advancing the job, reading and rendering its events on every "
        "poll) is the floor. Prism keeps no job state, so all rows compare with the same Prism "
        "run.",
    ]
    for name, run in (("kept body", kept), ("full path", full)):
        if run is None:
            continue
        tp = run["throughput"]
        notes.append(
            f"- Running job, {name}: {run['clock']}, moved {run['advanced_s']:.0f} s; "
            f"{run['retrieve_bytes']:,} bytes per answer; non-2xx {tp['non_2xx']}, socket "
            f"errors {tp['socket_errors']}; server RSS after the load "
            f"{run['rss_after_load_mb']:.1f} MB; {run.get('command', '')}."
        )
    return notes


def _throughput_rows(
    label: str, s_tp: dict[str, Any], p_tp: dict[str, Any], *, prism_note: str = ""
) -> list[tuple[str, str, str, str, str]]:
    """req/s with the 5x target, then p50, p99 and the server's CPU under load."""
    ratio = _ratio(s_tp["rps"], p_tp["rps"], higher_is_better=True)
    goal = TARGETS["throughput_ratio"]
    rows = [
        (
            f"{label}: req/s",
            f"{s_tp['rps']:.0f}",
            f"{p_tp['rps']:.0f}{prism_note}",
            _x(ratio),
            f"≥ {goal:.0f}× Prism {_met(ratio is not None and ratio >= goal)}",
        )
    ]
    for name, key in (("latency p50", "p50_ms"), ("latency p99", "p99_ms")):
        rows.append(
            (
                f"  {name}",
                f"{s_tp[key]:.2f} ms",
                f"{p_tp[key]:.2f} ms",
                _x(_ratio(s_tp[key], p_tp[key], higher_is_better=False)),
                "",
            )
        )
    rows.append(
        (
            "  server CPU under load (cores busy)",
            _cores(s_tp.get("server_cpu")),
            _cores(p_tp.get("server_cpu")),
            "",
            "",
        )
    )
    return rows


def markdown(results: dict[str, Any]) -> str:
    sim, prism = results["servers"][SIM], results["servers"][PRISM]
    meta = results["meta"]
    rows: list[tuple[str, str, str, str, str]] = []

    s_start, p_start = sim["startup_s"], prism["startup_s"]
    ok = s_start["median"] <= TARGETS["startup_median_s"]
    rows.append(
        (
            f"Startup to first answer, median (min) of {meta['startup_reps']}",
            f"{s_start['median']:.3f} s ({s_start['min']:.3f})",
            f"{p_start['median']:.3f} s ({p_start['min']:.3f})",
            _x(_ratio(s_start["median"], p_start["median"], higher_is_better=False)),
            f"≤ {TARGETS['startup_median_s']} s {_met(ok)}",
        )
    )

    steady = results.get("steady")
    if steady is not None:
        if "not_run" in steady:
            cell, ratio = f"not run: {steady['not_run']}", "—"
        else:
            st = steady["startup_s"]
            cell = f"{st['median']:.3f} s ({st['min']:.3f})"
            ratio = _x(_ratio(s_start["median"], st["median"], higher_is_better=False))
        rows.append(("  Steady, same starts (interleaved)", "", cell, ratio + " (vs Steady)", ""))

    s_sdk = sim["sdk_workflow"]
    p_sdk = prism["sdk_workflow"]
    failed = ", ".join(sorted(p_sdk["errors"], key=list(p_sdk["steps_s"]).index))
    rows.append(
        (
            f"SDK 3.1.1 seed workflow, median (min) of {s_sdk['runs']}",
            f"{s_sdk['total_s']['median'] * 1e3:.0f} ms ({s_sdk['total_s']['min'] * 1e3:.0f})",
            f"cannot complete (fails: {failed})" if failed else "completed (unexpected)",
            "—",
            "",
        )
    )

    s_raw, p_raw = sim["raw_sequence"], prism["raw_sequence"]
    rows.append(
        (
            f"Same 8 calls as raw HTTP, median (min) of {s_raw['runs']}",
            f"{s_raw['total_s']['median'] * 1e3:.1f} ms ({s_raw['total_s']['min'] * 1e3:.1f})",
            f"{p_raw['total_s']['median'] * 1e3:.1f} ms ({p_raw['total_s']['min'] * 1e3:.1f})",
            _x(
                _ratio(
                    s_raw["total_s"]["median"], p_raw["total_s"]["median"], higher_is_better=False
                )
            ),
            "",
        )
    )

    s_tp, p_tp = sim["throughput"], prism["throughput"]
    load = meta["load"]
    conns = f"{load['connections']} conns"
    rows += _throughput_rows(f"GET /fine-tunes/{{id}}, ended job (kept body), {conns}", s_tp, p_tp)
    kept, full = sim.get("running_job"), sim.get("running_job_full")
    paths = (
        (kept, f"kept body ({KEPT_RUNNING_NOTE})"),
        (full, "full path (`--no-keep-views`)"),
    )
    for run, how in paths:
        if run is None:
            continue
        if "keep_views" not in run:  # results from before kept views for live jobs
            how = "full path"
        rows += _throughput_rows(
            f"GET /fine-tunes/{{id}}, running job, {how}, {conns}",
            run["throughput"],
            p_tp,
            prism_note=" (same run)",
        )
        before, after = run["before"], run["after"]
        rows.append(
            (
                "  job status before → after the load (steps done)",
                f"{before['status']} ({before['steps_completed']}) → "
                f"{after['status']} ({after['steps_completed']}) "
                f"{_met(run['still_running'])}",
                "—",
                "",
                "",
            )
        )
    ok = sim["rss_idle_mb"] <= TARGETS["rss_idle_mb"]
    rows.append(
        (
            "Idle RSS after startup + warm-up (process tree)",
            f"{sim['rss_idle_mb']:.1f} MB",
            f"{prism['rss_idle_mb']:.1f} MB",
            _x(_ratio(sim["rss_idle_mb"], prism["rss_idle_mb"], higher_is_better=False)),
            f"≤ {TARGETS['rss_idle_mb']:.0f} MB {_met(ok)}",
        )
    )
    rows.append(
        (
            "  RSS after the load test",
            f"{sim['rss_after_load_mb']:.1f} MB",
            f"{prism['rss_after_load_mb']:.1f} MB",
            _x(
                _ratio(sim["rss_after_load_mb"], prism["rss_after_load_mb"], higher_is_better=False)
            ),
            "",
        )
    )

    header = ("Figure", SIM, PRISM, "sim advantage", "Target")
    lines = [
        f"# together-sim vs Prism ({meta['finished']})",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---:", "---:", "---:", "---"]) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "*sim advantage*: how many times faster / smaller together-sim is (> 1: together-sim "
        "wins). MB = 10^6 bytes.",
        "",
        *_step_table(sim, prism),
        "## What differs",
        "",
        "- Prism serves the spec's paths (`/fine-tunes`), together-sim `/v1/fine-tunes`; the "
        "SDK run against Prism maps `/v1/x` to `/x` so it fails on behaviour, not on the prefix.",
        "- SDK workflow on Prism, per step: "
        + "; ".join(
            f"{step} " + (f"✗ {p_sdk['errors'][step]}" if step in p_sdk["errors"] else "✓")
            for step in p_sdk["steps_s"]
        ),
        f"- Raw sequence body bytes per run: together-sim {s_raw['bytes_per_run']:,}, Prism "
        f"{p_raw['bytes_per_run']:,}. together-sim stores and checks the upload, runs the job "
        "on the instant clock, builds a real model archive and deletes state; Prism validates "
        "each request against the spec and returns the spec's static example.",
        f"- Body of one `GET /fine-tunes/{{id}}`: together-sim {sim['retrieve_bytes']:,} bytes "
        f"(the ended job with its events), Prism {prism['retrieve_bytes']:,} bytes (the "
        "example, whatever the id).",
        *_running_notes(kept, full),
        f"- Load generator: {s_tp['tool']} ({load['threads']} threads, "
        f"{load['connections']} connections, {load['warmup_s']:.0f} s warm-up), on the same "
        f"{meta['cpus']}-CPU machine as the server. Non-2xx: together-sim {s_tp['non_2xx']}, "
        f"Prism {p_tp['non_2xx']}; socket errors: {s_tp['socket_errors']}, "
        f"{p_tp['socket_errors']}.",
        f"- Other work on the machine: {meta['busy_cores_before']:.2f} cores busy just before "
        f"the run; load average {meta['loadavg_before'][0]:.2f} before, "
        f"{meta['loadavg_after'][0]:.2f} after (the bench itself adds to it).",
        f"- together-sim: {meta['sim_command']}; Prism {meta['prism_version']}: "
        f"{meta['prism_command']}; Python {meta['python']}, Node {meta['node']}.",
        "- Steady's row: `npm exec --yes --package=@stdy/cli@0.22.1 -- steady -q <spec>`, "
        "started in the same interleaved round as the other two (npm's own start is part of "
        "its time, as it is for anyone who runs it that way); it is in the Prism column, its "
        "ratio against together-sim beside it.",
        "",
    ]
    return "\n".join(lines)


def write(
    results: dict[str, Any], text: str, directory: Path = RESULTS_DIR, *, name: str = "bench"
) -> list[Path]:
    """``{name}-<stamp>`` and ``latest`` (``{name}-latest`` for a run of one part only)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    written: list[Path] = []
    for stem in (f"{name}-{stamp}", "latest" if name == "bench" else f"{name}-latest"):
        json_path = directory / f"{stem}.json"
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        md_path = directory / f"{stem}.md"
        md_path.write_text(text)
        written += [json_path, md_path]
    return written
