"""Image generation over HTTP: real JPEG or PNG files of the asked size (as Pillow decodes them),
the same for the same prompt and seed and another picture for another prompt, as base64 or as a
URL this server serves without a key."""

from __future__ import annotations

import base64
import io
import struct
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from PIL import Image

from tests.spec_schemas import assert_is_error_data, assert_matches_spec
from tests.steps import auth

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


def _pixels(data: bytes, format_: str, size: tuple[int, int]) -> NDArray[np.int16]:
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.mode, image.size) == (format_, "RGB", size)
        return np.asarray(image, dtype=np.int16)


@pytest.mark.parametrize(("output_format", "format_"), [("jpeg", "JPEG"), ("png", "PNG")])
def test_each_prompt_draws_its_own_picture(
    client: TestClient, output_format: str, format_: str
) -> None:
    fields = {"response_format": "base64", "output_format": output_format, "seed": 5}
    size = {"width": 320, "height": 192}

    def picture(prompt: str) -> NDArray[np.int16]:
        (item,) = _generate(client, prompt=prompt, **fields, **size)["data"]
        return _pixels(base64.b64decode(item["b64_json"]), format_, (320, 192))

    cat, again, harbour = picture("a cat"), picture("a cat"), picture("a harbour at dusk")
    assert np.array_equal(cat, again)
    assert np.abs(cat - harbour).max() > 16  # not a rounding difference: another picture


def test_n_urls_serve_jpegs_by_default_without_a_key(client: TestClient) -> None:
    answer = _generate(client, n=2, width=320, height=192)
    assert [(d["index"], d["type"]) for d in answer["data"]] == [(0, "url"), (1, "url")]
    first, second = (client.get(d["url"]) for d in answer["data"])  # no Authorization header
    assert first.headers["content-type"] == second.headers["content-type"] == "image/jpeg"
    assert first.content[:2] == b"\xff\xd8" and first.content[-2:] == b"\xff\xd9"
    sof = first.content.index(b"\xff\xc0")
    assert struct.unpack(">HH", first.content[sof + 5 : sof + 9]) == (192, 320)
    assert first.content != second.content  # n pictures, not one n times
    pixels = [_pixels(served.content, "JPEG", (320, 192)) for served in (first, second)]
    assert not np.array_equal(*pixels)


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
