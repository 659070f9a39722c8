"""``python -m bench``: together-sim beside Prism (``@stoplight/prism-cli``) on the same pinned
OpenAPI spec, in one run: startup to first answer, the seed workflow, throughput and idle RSS.

Modules, one per figure: :mod:`bench.startup`, :mod:`bench.workflow`, :mod:`bench.throughput`,
:mod:`bench.memory`, and :mod:`bench.running` (throughput on a job still running, on a
manual-clock together-sim, with kept bodies and with ``--no-keep-views``); :mod:`bench.servers`
starts the servers and :mod:`bench.report` prints and writes the table; :mod:`bench.load` is the
mixed workload of many clients, its generator a process of its own. And the trainer beside
TRL's SFTTrainer: :mod:`bench.trainer` (the runs and their table), whose child processes are
:mod:`bench.trainer_runs` (ours) and :mod:`bench.trl_runner` (TRL's). See ``bench/README.md``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCH_DIR", "CACHE_DIR", "RESULTS_DIR"]

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"  # Prism's node_modules (gitignored)
RESULTS_DIR = BENCH_DIR / "results"  # JSON + markdown of each run (gitignored)
