"""A user's suite, run by pytester the way pytest runs it for them: no conftest, no ``-p`` flag,
only the installed package, whose ``pytest11`` entry point brings the fixtures."""

from __future__ import annotations

# Imported before pytester snapshots sys.modules, so its inner runs reuse them: otherwise each run
# would import FastAPI, the app and the SDK afresh (about a second each).
import together  # noqa: F401

import mock_server.testing.live  # noqa: F401

USER_CODE = """
from together import Together

def fine_tune(path):
    client = Together()
    upload = client.files.upload(path, purpose="fine-tune", check=True)
    return client.fine_tuning.create(
        training_file=upload.id, model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", lora=True
    )
"""

USER_TESTS = """
import json
import pytest
from datetime import datetime, timezone
from myapp import fine_tune

ROW = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}

def test_a_job_completes_when_the_test_moves_the_clock(together_sim, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(ROW) + "\\n")
    job = fine_tune(data)
    assert together_sim.job(job.id).status == "pending"
    assert together_sim.run_until(job.id).status == "completed"

def test_the_next_test_starts_from_nothing(together_sim):
    assert together_sim.jobs() == [] and together_sim.files() == []
    assert together_sim.now() == datetime(2026, 1, 1, tzinfo=timezone.utc)

@pytest.mark.together_sim(clock="instant", api_key="k-2")
def test_the_marker_sets_the_options(together_sim, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(ROW) + "\\n")
    job = fine_tune(data)
    assert together_sim.api_key == "k-2"
    assert together_sim.job(job.id).status == "completed"
"""


# Hypothesis's plugin imports hypothesis at the end of every run (seconds), and the suite has no use
# for it; every other installed plugin loads, as in the user's run.
FLAGS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def test_a_user_suite_gets_the_fixtures_from_the_installed_plugin(pytester):
    pytester.makepyfile(myapp=USER_CODE, test_myapp=USER_TESTS)

    result = pytester.runpytest(*FLAGS, "-W", "error")

    result.assert_outcomes(passed=3)


def test_an_unknown_marker_option_is_reported_with_the_known_ones(pytester):
    pytester.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.together_sim(clok="instant")
        def test_it(together_sim):
            pass
        """
    )

    result = pytester.runpytest(*FLAGS)

    result.assert_outcomes(errors=1)
    assert "together_sim marker: unknown simulator option(s) ['clok']; the options are [" in (
        result.stdout.str()
    )
