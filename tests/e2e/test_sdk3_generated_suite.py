"""The ``together`` 3.1.1 SDK's own generated test suite against examples mode.

3.1.1 is the SDK ``pip install together`` gives today, generated after the August 2026 spec: its
suite calls 162 of the spec's operations and 15 that only the overlay has (taken from 3.1.1's
types), and validates every answer against 3.1.1's strict types. Run from the sdist's root against
``together-sim serve --mode examples`` on the default spec, with the server's root as base URL
(3.x sends ``/v1/...``, ``/v2/...`` and ``/v3/...`` itself), it must pass as a whole (see
``generated_suites.py``). ``make install`` fetches the sdist into ``.cache/sdk`` and builds
``.venv-sdk3``.

The suite skips some tests itself (evals, two audio tests, aiohttp with respx, and the rollout
previews its own mock server answered wrongly); those skips are the only ones allowed here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.generated_suites import REPO, examples_server, run_suite

SDK3_PYTHON = REPO / ".venv-sdk3" / "bin" / "python"
SDIST = REPO / ".cache" / "sdk" / "together-3.1.1"
OWN_SKIPS = (
    "Skipping evals tests atm",
    "I beleive stainless introduced a bug here",  # sic, the suite's own words
    "aiohttp client is not compatible with respx_mock",
    "Prism mock still emits retired serving_latency in preview-defaults examples",
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not SDK3_PYTHON.exists() or not (SDIST / "tests" / "api_resources").is_dir(),
        reason="the together 3.1.1 sdist and .venv-sdk3 are missing (`make install` makes them)",
    ),
]


def test_the_sdks_generated_suite_passes_against_examples_mode(tmp_path: Path) -> None:
    with examples_server(tmp_path) as root:
        run = run_suite(SDK3_PYTHON, SDIST, root, tmp_path)  # 3.x: the server's root
    assert run.returncode == 0, run.tail
    assert "failed" not in run.counts and "error" not in run.counts, run.summary
    assert run.counts["passed"] == 3765, run.summary  # of 3,830 collected: the whole suite ran
    assert run.only_own_skips(OWN_SKIPS), run.skips
    assert not (tmp_path / ".together-sim").exists()  # the server's cwd: it kept no state
