"""The ``together`` 2.12.0 SDK's own generated test suite against examples mode.

Run from the sdist's root against ``together-sim serve --mode examples --spec-version april``
(2.12.0 was generated from the April 2026 spec; the August one drops fields its strict types
require, such as a cluster node's ``node_name``), it must pass as a whole (see
``generated_suites.py``). ``make install`` fetches the sdist into ``.cache/sdk`` and builds
``.venv-sdk2`` with the SDK and the suite's test dependencies. 3.1.1's suite runs against the
default spec (``test_sdk3_generated_suite.py``).

The suite skips some tests itself (evals, two audio tests, aiohttp with respx); those skips are
the only ones allowed here, so a test skipped for any other reason fails this one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.generated_suites import REPO, examples_server, run_suite

SDK2_PYTHON = REPO / ".venv-sdk2" / "bin" / "python"
SDIST = REPO / ".cache" / "sdk" / "together-2.12.0"
OWN_SKIPS = (
    "Skipping evals tests atm",
    "I beleive stainless introduced a bug here",  # sic, the suite's own words
    "aiohttp client is not compatible with respx_mock",
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not SDK2_PYTHON.exists() or not (SDIST / "tests" / "api_resources").is_dir(),
        reason="the together 2.12.0 sdist and .venv-sdk2 are missing (`make install` makes them)",
    ),
]


def test_the_sdks_generated_suite_passes_against_examples_mode(tmp_path: Path) -> None:
    with examples_server(tmp_path, "--spec-version", "april") as root:
        run = run_suite(SDK2_PYTHON, SDIST, f"{root}/v1", tmp_path)  # 2.x: a base URL of /v1
    assert run.returncode == 0, run.tail
    assert "failed" not in run.counts and "error" not in run.counts, run.summary
    assert run.counts["passed"] == 1465, run.summary  # the whole suite ran
    assert run.only_own_skips(OWN_SKIPS), run.skips
    assert not (tmp_path / ".together-sim").exists()  # the server's cwd: it kept no state
