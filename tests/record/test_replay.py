"""``serve --replay`` answering from a cassette: recorded statuses, headers and bytes, redirects
pointed back at the replay server, and an honest error where the cassette has no answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from mock_server.record.cassette import (
    CassetteWriter,
    Exchange,
    RecordedRequest,
    RecordedResponse,
)
from mock_server.record.replay import create_replay_app

TARGET = "https://api.together.example"
JOB = "ft-6c5a2f3e-1b2c-4d5e-8f90-0123456789ab"
DOWNLOAD = [("ft_id", JOB), ("checkpoint", "adapter")]
ARCHIVE = bytes(range(256)) * 64


def _record(root: Path) -> None:
    writer = CassetteWriter(root, target=TARGET, started_at="t0")

    def add(request: RecordedRequest, response: RecordedResponse | None, **kw: Any) -> None:
        writer.write(Exchange(writer.next_seq(), "t", 1, request, response, **kw))

    def blob(seq: int, data: bytes) -> dict[str, Any]:
        path = writer.body_path(seq, "response")
        path.write_bytes(data)
        return {"kind": "binary", "size": len(data), "path": f"bodies/{path.name}"}

    get = RecordedRequest("GET", "/v1/finetune/download", DOWNLOAD, {}, {"kind": "empty"})
    probe = {
        "content-range": f"bytes 0-1/{len(ARCHIVE)}",
        "content-type": "application/octet-stream",
    }
    add(get, RecordedResponse(206, probe, blob(1, ARCHIVE[:2])))
    full = {"content-type": "application/octet-stream", "content-length": "1"}
    add(get, RecordedResponse(200, full, blob(2, ARCHIVE)))
    files = RecordedRequest("POST", "/v1/files", [], {}, {"kind": "form", "fields": {}})
    location = "https://bucket.storage.example/u/file-1?X-Amz-Signature=REDACTED"
    add(files, RecordedResponse(302, {"location": location}, {"kind": "empty"}))
    home = RecordedRequest("GET", "/v1/redirect-home", [], {}, {"kind": "empty"})
    add(home, RecordedResponse(307, {"location": f"{TARGET}/v1/models"}, {"kind": "empty"}))
    big = RecordedRequest("GET", "/v1/files/file-9abcdef01/content", [], {}, {"kind": "empty"})
    lost = {"kind": "binary", "size": 10 << 30, "path": None, "note": "not kept: too big"}
    add(big, RecordedResponse(200, {}, lost))
    down = RecordedRequest("GET", "/v1/models", [], {}, {"kind": "empty"})
    add(down, None, error="ConnectError: no route to host")


def _replay(root: Path, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_replay_app(root))
        async with httpx.AsyncClient(transport=transport, base_url="http://replay") as client:
            return [await client.request(m, url, **kw) for m, url, kw in requests]

    return asyncio.run(go())


def test_a_download_replays_its_range_probe_and_then_the_whole_archive(tmp_path):
    _record(tmp_path)

    probe, full = _replay(
        tmp_path,
        ("GET", "/v1/finetune/download", {"params": DOWNLOAD, "headers": {"Range": "bytes=0-1"}}),
        ("GET", "/v1/finetune/download", {"params": DOWNLOAD}),
    )

    assert (probe.status_code, probe.content) == (206, ARCHIVE[:2])
    assert probe.headers["content-range"] == f"bytes 0-1/{len(ARCHIVE)}"
    assert (full.status_code, full.content) == (200, ARCHIVE)
    assert full.headers["content-length"] == str(len(ARCHIVE))  # the file's, not the recorded


def test_recorded_redirects_point_back_at_the_replay_server(tmp_path):
    _record(tmp_path)

    upload, home = _replay(
        tmp_path, ("POST", "/v1/files", {"data": {}}), ("GET", "/v1/redirect-home", {})
    )

    assert upload.headers["location"] == (
        "http://replay/_upstream/https/bucket.storage.example/u/file-1?X-Amz-Signature=REDACTED"
    )
    assert home.headers["location"] == "http://replay/v1/models"


def test_what_the_recording_could_not_keep_is_an_error_saying_so(tmp_path):
    _record(tmp_path)

    lost, down = _replay(
        tmp_path, ("GET", "/v1/files/file-9abcdef01/content", {}), ("GET", "/v1/models", {})
    )

    assert lost.status_code == 501
    assert lost.json()["error"]["code"] == "no_recorded_body"
    assert lost.json()["error"]["message"] == (
        "together-sim replay: #5 GET /v1/files/file-9abcdef01/content was recorded, "
        "but not kept: too big"
    )
    assert down.status_code == 502
    assert down.json()["error"]["code"] == "upstream_unreachable"


def test_an_unrecorded_request_is_a_404_that_the_sdk_does_not_retry(tmp_path):
    _record(tmp_path)

    (missing,) = _replay(tmp_path, ("DELETE", f"/v1/fine-tunes/{JOB}", {}))

    assert missing.status_code == 404
    assert missing.headers["x-should-retry"] == "false"
    assert missing.json()["error"]["code"] == "no_recorded_response"
