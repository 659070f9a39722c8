"""Dataset validation: together-sim's server-side check beside both SDKs' ``check_file``.

``python -m bench validation`` builds, from a fixed seed, a ~20 MiB conversational JSONL and a
~20 MiB instruction one, and checks each with three checkers: together-sim's ``check_dataset``
(``.venv``), ``together`` 3.1.1's ``check_file`` (``.venv``) and 1.5.35's (``.venv-v1``). Every
run is a fresh process of its own (interleaved, so that other load on the machine meets all three
alike) that imports its checker, then checks the file twice: the first check is the headline
figure (a server's first upload after it started), the second the steady state. MiB/s is file
bytes over wall time; CPU MiB/s over the process's CPU time is shown too, as it moves less with
other load. RSS growth is the process's peak RSS during the checks over its RSS after the
imports (``/proc/self/clear_refs`` resets the peak first).

Then two files for together-sim alone: one line of 200 MB (refused at the line limit without
being held) and a line just under the limit (a 7 MiB string of ASCII with an emoji, which Python
would store at four bytes a character), each with its RSS growth and verdict.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import BENCH_DIR

__all__ = ["markdown", "measure_validation"]

REPO = BENCH_DIR.parent
SIM_PYTHON = REPO / ".venv" / "bin" / "python"
SDK1_PYTHON = REPO / ".venv-v1" / "bin" / "python"
MIB = 2**20
SEED = 11
TARGET = 2.0  # together-sim's first check >= 2x the fastest SDK's

# (name, interpreter, which) in the order each round runs them.
CHECKERS = (
    ("together-sim check_dataset", SIM_PYTHON, "sim"),
    ("together 3.1.1 check_file", SIM_PYTHON, "sdk"),
    ("together 1.5.35 check_file", SDK1_PYTHON, "sdk"),
)

# Run in a fresh interpreter: argv = which, path, checks. Prints one JSON line.
_RUNNER = r"""
import json, os, sys, time
which, path, checks = sys.argv[1], sys.argv[2], int(sys.argv[3])

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024

if which == "sim":
    # What a server has imported by its first check (numpy and msgspec load on first use), as
    # the SDK's imports are, is kept out of the figures. With one OpenBLAS thread, as
    # `together-sim serve` sets it (cli.py): numpy's import otherwise leaves a thread spinning.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import msgspec, numpy
    from pathlib import Path
    from mock_server.files.checks.check import check_dataset
    import mock_server.files.checks.shapes

    def check():
        r = check_dataset(Path(path), filename=os.path.basename(path))
        return r.is_check_passed, r.num_samples, r.error or r.message
else:
    try:
        from together.lib.utils.files import check_file  # 3.x
    except ImportError:
        from together.utils.files import check_file  # 1.x

    def check():
        r = check_file(path)
        return r["is_check_passed"], r.get("num_samples"), r["message"]

try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS to the current RSS
except OSError:
    pass
base = status("VmRSS:")
runs = []
for _ in range(checks):
    wall, cpu = time.perf_counter(), time.process_time()
    passed, samples, message = check()
    runs.append({"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu})
print(json.dumps({"runs": runs, "rss_growth_bytes": status("VmHWM:") - base, "passed": passed,
                  "samples": samples, "message": message[:300]}))
"""

_WORDS = (
    "the of and to a in is it you that he was for on are with as I his they be at one have this "
    "from or had by hot word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would like so "
    "these her long make thing see him two has look more day could go come did number sound no "
    "most people my over know water than call first who may down side been now find any new "
    "work part take get place made live where after back little only round man year came show "
    "every good me give our under name very through just form sentence great think say help low "
    "line differ turn cause much mean before move right boy old too same tell does set three "
    "want air well also play small end put home read hand port large spell add even land here "
    "must big high such follow act why ask men change went light kind off need house picture "
    "try us again animal point mother world near build self earth father model training data "
    "function return value error example answer question explain because however therefore"
).split()
# Real datasets are mostly ASCII, with some accents, typographic punctuation and emoji.
_EXTRAS = ("café", "naïve", "résumé", "“quoted”", "—", "Zürich", "São Paulo", "😊", "👍", "数据")


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(low, high))]
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words)), str(rng.randint(0, 10_000)))
    if rng.random() < 0.04:
        words.insert(rng.randrange(len(words)), rng.choice(_EXTRAS))
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


def _passage(rng: random.Random, sentences: int) -> str:
    """Sentences in paragraphs, now and then a list: newlines, escaped in the JSON."""
    parts: list[str] = []
    for i in range(sentences):
        parts.append(_sentence(rng, 5, 22))
        if i + 1 < sentences and rng.random() < 0.2:
            parts.append("\n\n" if rng.random() < 0.7 else "\n- ")
        elif i + 1 < sentences:
            parts.append(", " if rng.random() < 0.1 else " ")
    return "".join(parts)


def _conversation(rng: random.Random) -> dict[str, Any]:
    messages = []
    if rng.random() < 0.6:
        messages.append({"role": "system", "content": _sentence(rng, 6, 18)})
    for _ in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": _passage(rng, rng.randint(1, 3))})
        messages.append({"role": "assistant", "content": _passage(rng, rng.randint(2, 10))})
    return {"messages": messages}


def _instruction(rng: random.Random) -> dict[str, Any]:
    return {
        "prompt": _passage(rng, rng.randint(1, 3)),
        "completion": _passage(rng, rng.randint(2, 10)),
    }


def write_dataset(path: Path, kind: str, size: int = 20 * MIB, seed: int = SEED) -> int:
    """A JSONL file of about ``size`` bytes, the same for the same seed; returns its lines."""
    rng = random.Random(seed)
    make = _conversation if kind == "conversational" else _instruction
    written = lines = 0
    with path.open("wb") as out:
        while written < size:
            line = json.dumps(make(rng), ensure_ascii=False).encode() + b"\n"
            out.write(line)
            written += len(line)
            lines += 1
    return lines


def _write_long_line(path: Path, size: int) -> None:
    """A good line, then one ``{"text": "xxx..."}`` line of ``size`` bytes, then a good line."""
    good = json.dumps({"text": "a good line"}).encode() + b"\n"
    with path.open("wb") as out:
        out.write(good + b'{"text": "')
        for _ in range(size // MIB):
            out.write(b"x" * MIB)
        out.write(b'"}\n' + good)


def _write_worst_line(path: Path) -> None:
    """A line just under the default limit: one string of ASCII and an emoji."""
    from mock_server.files.checks.reader import MAX_LINE_BYTES

    text = "😀" + "word " * ((MAX_LINE_BYTES - 200) // 5)
    good = json.dumps({"text": "a good line"}) + "\n"
    line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
    path.write_bytes((good + line + good).encode())


def _run(python: Path, which: str, path: Path, checks: int) -> dict[str, Any]:
    env = dict(os.environ, TOGETHER_NO_BANNER="1", PYTHONPATH=str(REPO))
    done = subprocess.run(
        [str(python), "-c", _RUNNER, which, str(path), str(checks)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{python} {which} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _row(name: str, size: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    def rate(key: str, index: int) -> list[float]:
        return [size / MIB / r["runs"][index][key] for r in results]

    first, again = rate("seconds", 0), rate("seconds", 1)
    return {
        "checker": name,
        "first_mib_s": statistics.median(first),
        "first_min_max": [min(first), max(first)],
        "again_mib_s": statistics.median(again),
        "first_cpu_mib_s": statistics.median(rate("cpu_seconds", 0)),
        "rss_growth_mb": statistics.median(r["rss_growth_bytes"] / 1e6 for r in results),
        "passed": results[0]["passed"],
        "samples": results[0]["samples"],
    }


def measure_validation(runs: int = 5) -> dict[str, Any]:
    """Every checker on every file, ``runs`` fresh processes each; then the long lines."""
    checkers = [c for c in CHECKERS if c[1].exists()]
    missing = [c[0] for c in CHECKERS if not c[1].exists()]
    files: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        for kind in ("conversational", "instruction"):
            path = Path(tmp) / f"{kind}.jsonl"
            lines = write_dataset(path, kind)
            size = path.stat().st_size
            print(f"validation: {kind}, {size / MIB:.1f} MiB, {lines} lines ...", flush=True)
            samples: dict[str, list[dict[str, Any]]] = {c[0]: [] for c in checkers}
            for _ in range(runs):  # interleaved rounds
                for name, python, which in checkers:
                    samples[name].append(_run(python, which, path, 2))
            rows = [_row(name, size, samples[name]) for name, _, _ in checkers]
            files.append({"file": kind, "bytes": size, "lines": lines, "rows": rows})
        limits = []
        for label, write in (
            ("one line of 200 MB", lambda p: _write_long_line(p, 200 * MIB)),
            ("a line just under the limit (7 MiB of ASCII and an emoji)", _write_worst_line),
        ):
            path = Path(tmp) / "long.jsonl"
            write(path)
            print(f"validation: {label} ...", flush=True)
            result = _run(SIM_PYTHON, "sim", path, 1)
            limits.append(
                {
                    "file": label,
                    "bytes": path.stat().st_size,
                    "seconds": result["runs"][0]["seconds"],
                    "rss_growth_mb": result["rss_growth_bytes"] / 1e6,
                    "passed": result["passed"],
                    "message": result["message"],
                }
            )
            path.unlink()
    return {
        "meta": {
            "runs": runs,
            "seed": SEED,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
            "missing": missing,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        "files": files,
        "long_lines": limits,
    }


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        "## Dataset validation: together-sim's check beside the SDKs' `check_file`",
        "",
        f"Median of {meta['runs']} fresh processes per checker and file, interleaved; load "
        f"average {meta['load_average_before']:.2f} before, {meta['load_average_after']:.2f} "
        f"after, {meta['cpus']} CPUs. MiB/s = file size ÷ wall time of one check.",
        "",
    ]
    for entry in results["files"]:
        rows = entry["rows"]
        out += [
            f"**{entry['file']}** JSONL, {entry['bytes'] / MIB:.1f} MiB, {entry['lines']:,} "
            f"lines (seed {meta['seed']})",
            "",
            "| checker | first check, MiB/s (min–max) | again, same process | CPU MiB/s | "
            "RSS growth | verdict |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for row in rows:
            low, high = row["first_min_max"]
            verdict = f"{'passed' if row['passed'] else 'failed'}, {row['samples']} samples"
            out.append(
                f"| {row['checker']} | {row['first_mib_s']:.0f} ({low:.0f}–{high:.0f}) | "
                f"{row['again_mib_s']:.0f} | {row['first_cpu_mib_s']:.0f} | "
                f"{row['rss_growth_mb']:.1f} MB | {verdict} |"
            )
        sim = rows[0]
        sdks = rows[1:]
        if sdks:
            best = max(sdks, key=lambda r: r["first_mib_s"])
            ratio = sim["first_mib_s"] / best["first_mib_s"]
            again = sim["again_mib_s"] / max(r["again_mib_s"] for r in sdks)
            mark = "✅" if ratio >= TARGET else "❌"
            out += [
                "",
                f"together-sim ÷ the fastest SDK ({best['checker']}): **{ratio:.2f}×** on the "
                f"first check, {again:.2f}× again in the same process (target ≥ {TARGET:.0f}× "
                f"{mark}).",
            ]
        out.append("")
    out += [
        "**The line limit** (together-sim only, default `--max-line-bytes`)",
        "",
        "| file | size | seconds | RSS growth | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for row in results["long_lines"]:
        verdict = "passed" if row["passed"] else f"failed: {row['message']}"
        out.append(
            f"| {row['file']} | {row['bytes'] / 1e6:.0f} MB | {row['seconds']:.2f} | "
            f"{row['rss_growth_mb']:.1f} MB | {verdict} |"
        )
    if meta["missing"]:
        out += ["", f"Not run (interpreter missing): {', '.join(meta['missing'])}."]
    return "\n".join(out) + "\n"
