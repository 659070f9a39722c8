"""The cassette on disk: exchanges read back as written, in arrival order, and a directory
this version cannot read is refused with the reason."""

from __future__ import annotations

import json

import pytest

from mock_server.record.cassette import (
    CassetteError,
    CassetteWriter,
    Exchange,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
)


def _exchange(seq: int, path: str) -> Exchange:
    return Exchange(
        seq=seq,
        started_at="2026-01-01T00:00:00.000000Z",
        duration_ms=12,
        request=RecordedRequest(
            "GET", path, [("model_name", "m")], {"accept": "application/json"}, {"kind": "empty"}
        ),
        response=RecordedResponse(
            200, {"content-type": "application/json"}, {"kind": "json", "json": {}}
        ),
    )


def test_exchanges_read_back_as_written_in_the_order_requests_arrived(tmp_path):
    writer = CassetteWriter(tmp_path, target="https://api.together.xyz", started_at="t0")
    first, second = writer.next_seq(), writer.next_seq()
    writer.write(_exchange(second, "/v1/fine-tunes/ft-2"))  # the slower first request ends last
    writer.write(_exchange(first, "/v1/fine-tunes/models/limits"))

    cassette = load_cassette(tmp_path)

    assert cassette.target == "https://api.together.xyz"
    assert cassette.exchanges == (
        _exchange(1, "/v1/fine-tunes/models/limits"),
        _exchange(2, "/v1/fine-tunes/ft-2"),
    )
    assert sorted(p.name for p in (tmp_path / "exchanges").iterdir()) == [
        "0001-GET-v1-fine-tunes-models-limits.json",
        "0002-GET-v1-fine-tunes-ft-2.json",
    ]


def test_a_cassette_of_another_version_is_refused_naming_it(tmp_path):
    CassetteWriter(tmp_path, target="https://api.together.xyz", started_at="t0")
    meta = json.loads((tmp_path / "cassette.json").read_text())
    (tmp_path / "cassette.json").write_text(json.dumps({**meta, "version": 99}))

    with pytest.raises(CassetteError, match="version 99; this together-sim reads 1"):
        load_cassette(tmp_path)


def test_recording_over_an_earlier_recording_is_refused(tmp_path):
    writer = CassetteWriter(tmp_path, target="https://api.together.xyz", started_at="t0")
    writer.write(_exchange(writer.next_seq(), "/v1/files"))

    with pytest.raises(CassetteError, match="already holds a recording"):
        CassetteWriter(tmp_path, target="https://api.together.xyz", started_at="t1")
