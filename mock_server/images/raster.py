"""Small, real PNG and JPEG files, written with zlib and struct (no imaging library).

A generated picture is a mosaic of flat 8×8 blocks: a sky fading between two colours and a disc
of a third, each colour and the disc's place drawn from the prompt and seed. Flat blocks are what
make a JPEG writable in a few lines: a block of one colour has only a DC coefficient, so the
entropy-coded data is each block's DC difference followed by an end-of-block code, with the
standard luminance DC table of JPEG's Annex K. Any decoder reads both files; the pictures are not
art, but they have the asked size, differ per prompt and are the same for the same prompt and seed.
"""

from __future__ import annotations

import functools
import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Mosaic", "jpeg", "mosaic", "png"]

BLOCK = 8
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Mosaic:
    """A picture of ``width × height`` pixels made of flat 8×8 blocks, in rows of block colours
    (the last row and column of blocks may stick out past the picture's edge)."""

    width: int
    height: int
    blocks: tuple[tuple[RGB, ...], ...]


def mosaic(width: int, height: int, seed: int) -> Mosaic:
    rng = random.Random(seed)
    top, bottom, disc = (tuple(rng.randrange(256) for _ in range(3)) for _ in range(3))
    cols, rows = -(-width // BLOCK), -(-height // BLOCK)
    cx, cy = rng.uniform(0.2, 0.8) * cols, rng.uniform(0.2, 0.6) * rows
    radius = rng.uniform(0.12, 0.3) * min(cols, rows) + 0.5
    blocks = []
    for row in range(rows):
        t = row / max(rows - 1, 1)
        sky = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        blocks.append(
            tuple(
                disc if (col + 0.5 - cx) ** 2 + (row + 0.5 - cy) ** 2 <= radius**2 else sky
                for col in range(cols)
            )
        )
    return Mosaic(width, height, tuple(blocks))  # type: ignore[arg-type]


# -- PNG ------------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(picture: Mosaic) -> bytes:
    """8-bit RGB, no interlace, every scanline with filter 0."""
    width = picture.width
    scanlines = []
    for row_index, row in enumerate(picture.blocks):
        line = b"\x00" + b"".join(bytes(colour) * BLOCK for colour in row)[: width * 3]
        lines = min(BLOCK, picture.height - row_index * BLOCK)
        scanlines.append(line * lines)
    header = struct.pack(">IIBBBBB", width, picture.height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(scanlines), 6))
        + _chunk(b"IEND", b"")
    )


# -- JPEG (baseline, 4:4:4, DC-only blocks) --------------------------------------------------------

# Annex K.3.1, table K.3: the luminance DC code lengths (counts per length 1..16) and symbols.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
# An AC table holding one symbol, end-of-block (0x00), with the one-bit code "0".
_AC_BITS = (1,) + (0,) * 15
_AC_VALUES = (0,)
_QUANT = bytes([8] + [16] * 63)  # only the DC entry matters: every AC coefficient is zero


def _codes(bits: tuple[int, ...], values: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    """symbol -> (code, length), generated as Annex C does from the counts per length."""
    out: dict[int, tuple[int, int]] = {}
    code, position = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            out[values[position]] = (code, length)
            code += 1
            position += 1
        code <<= 1
    return out


_DC_CODES = _codes(_DC_BITS, _DC_VALUES)
_EOB = _codes(_AC_BITS, _AC_VALUES)[0]


def _bits(value: int, length: int) -> str:
    return format(value, f"0{length}b") if length else ""


def _block_code(diff: int) -> str:
    """A flat block's entropy-coded bits: its DC difference, then end-of-block."""
    size = abs(diff).bit_length()
    extra = diff if diff >= 0 else diff + (1 << size) - 1
    return _bits(*_DC_CODES[size]) + _bits(extra, size) + _bits(*_EOB)


# Levels are -128..127, so differences are -255..255: every block's code is looked up.
_BLOCK_CODES = {diff: _block_code(diff) for diff in range(-255, 256)}


def _entropy_coded(picture: Mosaic) -> bytes:
    parts = []
    previous = [0, 0, 0]
    for levels in _blocks(picture):
        for component, level in enumerate(levels):
            parts.append(_BLOCK_CODES[level - previous[component]])
            previous[component] = level
    bits = "".join(parts)
    bits += "1" * (-len(bits) % 8)  # pad the last byte with one-bits
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return data.replace(b"\xff", b"\xff\x00")  # byte stuffing


@functools.lru_cache(maxsize=4096)  # a mosaic has few colours: one per row of sky, and the disc
def _ycbcr(colour: RGB) -> tuple[int, int, int]:
    r, g, b = colour
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    # A flat block of level v (shifted by -128) has DC coefficient 8v; quantized by 8, it is v.
    return tuple(max(-128, min(127, round(c) - 128)) for c in (y, cb, cr))  # type: ignore[return-value]


def _blocks(picture: Mosaic) -> Iterator[tuple[int, int, int]]:
    for row in picture.blocks:
        for colour in row:
            yield _ycbcr(colour)


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg(picture: Mosaic) -> bytes:
    components = b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    return b"".join(
        [
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, b"\x00" + _QUANT),
            _segment(0xC0, struct.pack(">BHHB", 8, picture.height, picture.width, 3) + components),
            _segment(0xC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALUES)),
            _segment(0xC4, b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALUES)),
            _segment(
                0xDA, b"\x03" + b"".join(bytes([i, 0x00]) for i in (1, 2, 3)) + b"\x00\x3f\x00"
            ),
            _entropy_coded(picture),
            b"\xff\xd9",
        ]
    )
