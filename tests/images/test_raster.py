"""Generated pictures are real files. Pillow, a decoder that shares nothing with the writer, opens
both at the asked size in RGB and finds the mosaic's colours in every pixel (exactly in a PNG,
within a level of rounding in a JPEG). Below that, the PNG's chunks, checksums and rows check out
with zlib alone, and the baseline JPEG's entropy-coded data decodes (with the Huffman table the
file itself carries) back to the picture's colours."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from mock_server.images.raster import BLOCK, Mosaic, jpeg, mosaic, png


def _expected(picture: Mosaic) -> NDArray[np.int16]:
    """The mosaic as pixels: each block colour repeated over its 8x8 block, cut to the size."""
    blocks = np.array(picture.blocks, dtype=np.int16)
    pixels = blocks.repeat(BLOCK, axis=0).repeat(BLOCK, axis=1)
    return pixels[: picture.height, : picture.width]


def _decoded(data: bytes, format_: str) -> NDArray[np.int16]:
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.mode) == (format_, "RGB")
        return np.asarray(image, dtype=np.int16)


@pytest.mark.parametrize(("width", "height"), [(64, 64), (203, 77), (1, 1), (8, 300)])
@pytest.mark.parametrize(
    ("write", "format_", "tolerance"), [(png, "PNG", 0), (jpeg, "JPEG", 2)], ids=["png", "jpeg"]
)
def test_pillow_decodes_the_asked_size_and_the_mosaics_colours(
    write: Callable[[Mosaic], bytes], format_: str, tolerance: int, width: int, height: int
) -> None:
    picture = mosaic(width, height, seed=7)
    pixels = _decoded(write(picture), format_)
    assert pixels.shape == (height, width, 3)
    assert int(np.abs(pixels - _expected(picture)).max()) <= tolerance


@pytest.mark.parametrize(("write", "format_"), [(png, "PNG"), (jpeg, "JPEG")], ids=["png", "jpeg"])
def test_pillow_sees_other_pixels_for_another_seed(
    write: Callable[[Mosaic], bytes], format_: str
) -> None:
    one, again, other = (_decoded(write(mosaic(96, 64, seed=seed)), format_) for seed in (1, 1, 2))
    assert np.array_equal(one, again)
    assert np.abs(one - other).max() > 16  # not a rounding difference: another picture


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


@pytest.mark.parametrize(("width", "height"), [(64, 64), (203, 77)])
def test_a_png_has_its_size_and_the_mosaics_pixels(width: int, height: int) -> None:
    picture = mosaic(width, height, seed=7)
    chunks = _png_chunks(png(picture))
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (width, height, 8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == height * stride
    for y in (0, height // 2, height - 1):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0  # filter: none
        for x in (0, width // 2, width - 1):
            assert tuple(row[1 + 3 * x : 4 + 3 * x]) == picture.blocks[y // BLOCK][x // BLOCK]


def test_the_same_prompt_and_seed_draw_the_same_picture_and_another_seed_another() -> None:
    assert png(mosaic(96, 96, seed=1)) == png(mosaic(96, 96, seed=1))
    assert png(mosaic(96, 96, seed=1)) != png(mosaic(96, 96, seed=2))


def _segments(data: bytes) -> tuple[dict[int, list[bytes]], bytes]:
    """The marker segments before the scan, and the entropy-coded data."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    found: dict[int, list[bytes]] = {}
    at = 2
    while True:
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2 : at + 4])[0]
        found.setdefault(marker, []).append(data[at + 4 : at + 2 + length])
        at += 2 + length
        if marker == 0xDA:  # start of scan: the coded data follows, up to EOI
            return found, data[at:-2].replace(b"\xff\x00", b"\xff")


def _huffman(segment: bytes) -> dict[str, int]:
    counts, values = segment[1:17], segment[17:]
    table, code, position = {}, 0, 0
    for length, count in enumerate(counts, start=1):
        for _ in range(count):
            table[format(code, f"0{length}b")] = values[position]
            code, position = code + 1, position + 1
        code <<= 1
    return table


def _dc_levels(picture: Mosaic) -> list[tuple[int, int, int]]:
    """The blocks' Y, Cb, Cr levels (shifted by -128), computed from RGB here, not by raster."""
    levels = []
    for row in picture.blocks:
        for r, g, b in row:
            y = 0.299 * r + 0.587 * g + 0.114 * b
            cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
            cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
            levels.append(tuple(round(c) - 128 for c in (y, cb, cr)))
    return levels  # type: ignore[return-value]


def test_a_jpeg_has_its_size_and_decodes_to_the_mosaics_colours() -> None:
    picture = mosaic(203, 77, seed=7)
    segments, coded = _segments(jpeg(picture))
    precision, height, width, components = struct.unpack(">BHHB", segments[0xC0][0][:6])
    assert (precision, width, height, components) == (8, 203, 77, 3)
    tables = {segment[0]: _huffman(segment) for segment in segments[0xC4]}
    dc, ac = tables[0x00], tables[0x10]
    bits = "".join(format(byte, "08b") for byte in coded)
    at, previous, decoded = 0, [0, 0, 0], []
    for _ in range(len(_dc_levels(picture))):
        block = []
        for component in range(3):
            code = next(bits[at : at + n] for n in range(1, 17) if bits[at : at + n] in dc)
            size, at = dc[code], at + len(code)
            extra = int(bits[at : at + size], 2) if size else 0
            diff = extra if size == 0 or extra >> (size - 1) else extra - (1 << size) + 1
            at += size
            previous[component] += diff
            block.append(previous[component])
            end = next(bits[at : at + n] for n in range(1, 17) if bits[at : at + n] in ac)
            assert ac[end] == 0x00  # end of block: every AC coefficient is zero
            at += len(end)
        decoded.append(tuple(block))
    assert set(bits[at:]) <= {"1"} and len(bits) - at < 8  # only the padding is left
    assert decoded == _dc_levels(picture)
