"""Image generation over HTTP: real JPEG or PNG files of the asked size, the same for the same
prompt and seed, as base64 or as a URL this server serves without a key."""

from __future__ import annotations

import base64
import struct
from typing import Any

from fastapi.testclient import TestClient

from tests.api.steps import auth
from tests.spec_schemas import assert_is_error_data, assert_matches_spec

FLUX = "black-forest-labs/FLUX.1-schnell"


def _generate(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"model": FLUX, "prompt": "cat floating in space, cinematic", **fields}
    response = client.post("/v1/images/generations", headers=auth(), json=body)
    assert response.status_code == 200, response.text
    assert_matches_spec(response.json(), "POST", "/images/generations")
    answer: dict[str, Any] = response.json()
    return answer


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_n_urls_serve_jpegs_by_default_without_a_key(client: TestClient) -> None:
    answer = _generate(client, n=2, width=320, height=192)
    assert [(d["index"], d["type"]) for d in answer["data"]] == [(0, "url"), (1, "url")]
    first, second = (client.get(d["url"]) for d in answer["data"])  # no Authorization header
    assert first.headers["content-type"] == second.headers["content-type"] == "image/jpeg"
    assert first.content[:2] == b"\xff\xd8" and first.content[-2:] == b"\xff\xd9"
    sof = first.content.index(b"\xff\xc0")
    assert struct.unpack(">HH", first.content[sof + 5 : sof + 9]) == (192, 320)
    assert first.content != second.content  # n pictures, not one n times


def test_base64_pngs_repeat_for_a_prompt_and_seed_and_change_with_the_seed(
    client: TestClient,
) -> None:
    fields = {"response_format": "base64", "output_format": "png", "width": 256, "height": 128}
    one, again = (_generate(client, seed=42, **fields)["data"][0] for _ in range(2))
    other = _generate(client, seed=43, **fields)["data"][0]
    assert one["type"] == "b64_json"
    image = base64.b64decode(one["b64_json"])
    assert _png_size(image) == (256, 128)
    assert one["b64_json"] == again["b64_json"] != other["b64_json"]


def test_sizes_counts_and_models_outside_the_limits_are_refused_by_name(
    client: TestClient,
) -> None:
    cases: dict[str, tuple[int, dict[str, Any]]] = {
        "width": (400, {"width": 4096}),
        "n": (400, {"n": 9}),
        "steps": (400, {"steps": 0}),
        "model": (404, {"model": "x/y"}),  # model_not_available, as chat answers it
    }
    for param, (status, fields) in cases.items():
        body = {"model": FLUX, "prompt": "cat", **fields}
        response = client.post("/v1/images/generations", headers=auth(), json=body)
        assert response.status_code == status, (param, response.text)
        assert_is_error_data(response.json())
        assert response.json()["error"]["param"] == param
