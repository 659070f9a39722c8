"""The byte codes and lookup tables of the bulk token count (``bulk_tokens.py``): every byte of
raw JSON mapped to one code that says what the stand-in tokenizer sees in it (a space, an "other"
character, a letter or digit, or something to look at: an escape, a UTF-8 lead byte), and the
numpy tables that resolve the characters beyond ASCII. Apart from the counting so that the table
of codes, which the counter's arithmetic relies on, reads in one place.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Codes = npt.NDArray[np.uint8]

# What the tokenizer's regex calls a letter/digit and a space (core/tokens.py: [^\W_], \s).
ALNUM_RE = re.compile(r"[^\W_]")
SPACE_RE = re.compile(r"\s")

SPACE, OTHER, ALNUM = 0x00, 0x40, 0x80
QUOTE, SLASH = 0x41, 0x42
HEX_DIGITS = {
    **{c: 0x90 + i for i, c in enumerate(b"0123456789abcdef")},
    **{c: 0xAA + i for i, c in enumerate(b"ABCDEF")},
}
LETTERS = {c: 0xB0 + i for i, c in enumerate(b"nrtu")}  # escape letters that are not hex digits
U = LETTERS[ord("u")]
SEPARATOR = 0x01  # a space to the tokenizer
NEWLINE, QUOTE_BYTE = ord("\n"), ord('"')
BACKSLASH, LEAD2, LEAD3, LEAD4, NOT_UTF8 = range(0xC0, 0xC5)
SPECIAL = 0xC0  # the first code to look at
DELETE = 0xFF  # the bytes of a \uXXXX escape but the one that stands for its character
CONTINUATION = bytes(range(0x80, 0xC0))
BEYOND_ASCII_OR_ESCAPES = bytes(range(0x80, 0x100)) + b"\\"


def class_of(char: str) -> int:
    """SPACE, OTHER or ALNUM: the tokenizer's class of one character."""
    if ALNUM_RE.match(char):
        return ALNUM
    return SPACE if SPACE_RE.match(char) else OTHER


def _lead_code(byte: int) -> int:
    if 0xC2 <= byte <= 0xDF:
        return LEAD2
    if 0xE0 <= byte <= 0xEF:
        return LEAD3
    return LEAD4 if 0xF0 <= byte <= 0xF4 else NOT_UTF8


def _build_codes() -> bytes:
    table = bytearray(class_of(chr(byte)) for byte in range(0x80))
    table += bytes(0x40)  # continuation bytes: deleted by translate
    table += bytes(_lead_code(byte) for byte in range(0xC0, 0x100))
    for byte, code in (HEX_DIGITS | LETTERS).items():
        table[byte] = code
    table[ord('"')], table[ord("/")] = QUOTE, SLASH
    table[ord("\\")], table[ord("\n")] = BACKSLASH, SEPARATOR
    return bytes(table)


CODES = _build_codes()


class Tables:
    """numpy lookup tables, built on first use (numpy is imported then)."""

    def __init__(self) -> None:
        import numpy as np

        # The class of the character an escape letter stands for ("\n" a space, "\b" other...).
        self.escaped = np.zeros(0x100, np.uint8)
        for letter, char in zip('"\\/bfnrt', '"\\/\b\f\n\r\t', strict=True):
            self.escaped[CODES[ord(letter)]] = class_of(char)
        self.hex_value = np.arange(0x100, dtype=np.uint32) & 0xF  # of a hex digit's code
        self.length = np.zeros(0x100, np.intp)  # of a UTF-8 sequence, by its lead's code
        self.length[[LEAD2, LEAD3, LEAD4]] = (2, 3, 4)
        # The code of every code point, filled in as characters are met (idempotent writes, so
        # threads may share them); 0xFF: not known yet. ``classes`` for decoded text, where a
        # character is just its class; ``codes`` for the raw JSON, where ASCII has the codes of
        # CODES (a backslash starts an escape...).
        self.classes = np.full(0x110000, 0xFF, np.uint8)
        self.classes[:0x80] = [class_of(chr(point)) for point in range(0x80)]
        self.codes = self.classes.copy()
        self.codes[:0x80] = np.frombuffer(CODES[:0x80], np.uint8)
        self.planes = (np.uint64(0xAAAA_AAAA_AAAA_AAAA), np.uint64(0xCCCC_CCCC_CCCC_CCCC))

    def look_up(self, table: Codes, points: npt.NDArray[np.uint32], out: Codes) -> None:
        """``out[:] = table[points]`` (``table``: ``classes`` or ``codes``), learning the class
        of code points not met yet."""
        import numpy as np

        np.take(table, points, out=out, mode="clip")
        unknown = out == 0xFF
        if unknown.any():
            # Each new code point once (not np.unique: that one imports numpy.ma, 10 ms).
            met = np.zeros(len(table), np.bool_)
            met[points[unknown]] = True
            for point in np.flatnonzero(met).tolist():
                self.classes[point] = self.codes[point] = class_of(chr(point))
            np.take(table, points, out=out, mode="clip")

    def classes_of(self, points: npt.NDArray[np.uint32]) -> Codes:
        import numpy as np

        found = np.empty(len(points), np.uint8)
        self.look_up(self.classes, points, found)
        return found


_shared: Tables | None = None
_shared_lock = threading.Lock()


def tables() -> Tables:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Tables()
        return _shared
