"""Videos over HTTP on the manual clock at the service's pace (12 s of generation per second of
clip): create → in_progress → completed with a URL this server serves, under ``/v2`` as the spec's
server says and SDK 3.x sends, and under ``/v1``. Every answer is checked against the spec."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.spec_calls import assert_valid_reply
from tests.steps import auth

MODEL = "google/veo-3.0"


def _video(client: TestClient, method: str, path: str, **body: object) -> dict[str, object]:
    response = client.request(method, path, headers=auth(), json=body or None)
    assert response.status_code == 200, response.text
    video: dict[str, object] = response.json()
    assert_valid_reply(video, "GET /videos/{id}")
    return video


def test_a_video_completes_with_a_url_serving_an_mp4(client: TestClient) -> None:
    created = _video(client, "POST", "/v2/videos", model=MODEL, prompt="a cat", seconds="2")
    assert (created["status"], created["size"], created["seconds"]) == (
        "in_progress",
        "1280x720",
        "2",
    )
    client.post("/_sim/advance", json={"seconds": 23})
    assert _video(client, "GET", f"/v2/videos/{created['id']}")["status"] == "in_progress"
    client.post("/_sim/advance", json={"seconds": 1})
    done = _video(client, "GET", f"/v1/videos/{created['id']}")
    assert done["status"] == "completed"
    assert done["completed_at"] == created["created_at"] + 24  # type: ignore[operator]
    outputs = done["outputs"]
    assert isinstance(outputs, dict) and outputs["cost"] == 0
    served = client.get(outputs["video_url"])
    assert served.headers["content-type"] == "video/mp4"
    assert served.content[4:8] == b"ftyp"
    assert b"together-sim: a simulated video" in served.content


@pytest.mark.parametrize(
    ("output_format", "magic"), [("WEBM", b"\x1a\x45\xdf\xa3"), ("MP4", b"\x00")]
)
def test_the_video_comes_in_the_format_asked_for(
    client: TestClient, output_format: str, magic: bytes
) -> None:
    created = _video(
        client,
        "POST",
        "/v2/videos",
        model=MODEL,
        output_format=output_format,
        width=640,
        height=360,
    )
    assert created["size"] == "640x360"
    client.post("/_sim/advance", json={"seconds": 60})
    outputs = _video(client, "GET", f"/v2/videos/{created['id']}")["outputs"]
    assert isinstance(outputs, dict)
    assert client.get(outputs["video_url"]).content.startswith(magic)


def test_an_unknown_video_is_a_404(client: TestClient) -> None:
    missing = client.get("/v2/videos/video-nope", headers=auth())
    assert (missing.status_code, missing.json()["error"]["param"]) == (404, "id")


def test_a_duration_or_size_the_spec_allows_is_accepted_with_the_defaults(
    client: TestClient,
) -> None:
    # `seconds` is a free string and the dimensions unbounded integers in the spec: a duration
    # that is no number runs for the default 5 s, a zero size falls back to 1280x720.
    odd = _video(client, "POST", "/v2/videos", model=MODEL, seconds="soon", width=0, height=0)
    assert (odd["seconds"], odd["size"]) == ("soon", "1280x720")
    client.post("/_sim/advance", json={"seconds": 59})
    assert _video(client, "GET", f"/v2/videos/{odd['id']}")["status"] == "in_progress"
    client.post("/_sim/advance", json={"seconds": 1})
    assert _video(client, "GET", f"/v2/videos/{odd['id']}")["status"] == "completed"
