"""Startup to first answer: spawn the server, poll ``GET /fine-tunes`` (``/v1/fine-tunes`` on
together-sim) every 5 ms with a bearer key, stop the clock at the first 2xx answer."""

from __future__ import annotations

from bench.servers import Target, start

__all__ = ["measure_startup"]


def measure_startup(targets: list[Target], reps: int) -> dict[str, list[float]]:
    """``reps`` cold starts of each target, interleaved (sim, Prism, sim, ...) so that drift in
    the machine's load hits both alike. Returns seconds per start, by target name."""
    samples: dict[str, list[float]] = {target.name: [] for target in targets}
    for _ in range(reps):
        for target in targets:
            running = start(target)
            try:
                samples[target.name].append(running.startup_s)
            finally:
                running.stop()
    return samples
