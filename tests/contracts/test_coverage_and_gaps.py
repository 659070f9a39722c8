"""The coverage table (operations x statuses) and the list of known simulator gaps."""

from __future__ import annotations

import json
from pathlib import Path

from contracts.coverage import CoverageRecorder
from contracts.known_gaps import KnownGap, KnownGaps
from contracts.loading import cap_generation

DOCUMENTED = {"GET /files": ("200", "401"), "DELETE /files/{id}": ("200", "404", "default")}


def test_the_table_counts_responses_and_marks_documented_statuses_never_seen(
    tmp_path: Path,
) -> None:
    recorder = CoverageRecorder(DOCUMENTED, tuple(DOCUMENTED))
    for status in (200, 200, 401):
        recorder.record("GET /files", status)
    recorder.record("DELETE /files/{id}", 500)  # not listed: "default" stands for it

    report = recorder.report()
    assert report.statuses == ["200", "401", "404", "500", "default"]
    assert report.summary() == {
        "operations": 2,
        "operations_exercised": 2,
        "responses": 4,
        "documented_pairs": 5,
        "documented_pairs_seen": 3,
        "undocumented_pairs_seen": 0,
    }
    lines = report.markdown().splitlines()
    assert "| GET /files | 2 | 1 |  |  |  |" in lines
    assert "| DELETE /files/{id} | - |  | - | 1 | - |" in lines
    written = report.write(tmp_path)
    as_json = json.loads(written[1].read_text())
    assert as_json["operations"]["DELETE /files/{id}"]["documented_not_seen"] == ["200", "404"]


def test_a_known_gap_sets_aside_only_the_failure_it_names() -> None:
    gap = KnownGap("positive_data_acceptance", "POST /x", "already exists", "families/x.py", "")
    gaps = KnownGaps(gaps=(gap,))
    assert gaps.find("positive_data_acceptance", "POST /x", '{"message":"x already exists"}') is gap
    assert gaps.find("positive_data_acceptance", "POST /x", '{"message":"bad name"}') is None
    assert gaps.find("negative_data_rejection", "POST /x", "already exists") is None
    assert gaps.find("positive_data_acceptance", "POST /y", "already exists") is None
    assert gaps.stale(("POST /x",)) == [gap]


def test_a_generation_sent_to_the_real_service_is_capped() -> None:
    assert cap_generation({"max_tokens": 4096, "n": 8}) == {"max_tokens": 4, "n": 1}
    assert cap_generation({"messages": []}) == {"messages": [], "max_tokens": 4}
    assert cap_generation({"max_tokens": 2}) == {"max_tokens": 2}
