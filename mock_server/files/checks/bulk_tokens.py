"""The stand-in tokenizer's count (``core/tokens.py``) of many JSON strings at once, read straight
from their raw JSON, without a Python string or a regex match per token.

The rule is simple enough to count in bulk. A text's count is the number of characters that are
neither space nor letter/digit ("other", a token each) plus ``ceil(L / 4)`` for every run of ``L``
letters and digits. :class:`TokenCounter` gets the raw JSON of the strings (``"..."``, escapes
and all, as msgspec's ``Raw`` hands them over) joined by newlines, and turns every byte into a
one-byte code with ``bytes.translate``, which also drops the continuation bytes of UTF-8, so that
each character is one code:

====================  ==========================================================================
code                  bytes
====================  ==========================================================================
``0x00``-``0x3f``     space (and, once resolved, escapes), with the newline between strings
                      told apart
``0x40``-``0x7f``     other: punctuation, with ``"`` and ``/`` told apart
``0x80``-``0xbf``     letter or digit, with hex digits and ``n r t u`` told apart (escapes)
``0xc0``-``0xc4``     to look at: ``\\``, UTF-8 lead bytes by length, bytes that are never UTF-8
====================  ==========================================================================

The few codes from ``0xc0`` up are then resolved with numpy where they are: an escape becomes the
class of the character it stands for (a ``\\uXXXX`` its six bytes, a surrogate pair its twelve);
a lead byte the class of its character, which the UTF-8 bytes are checked and decoded for. The
classes come from the tokenizer's own regex, character by character, so the count is exactly
``sum(count_tokens(s))`` over the decoded strings; a property test holds it so.

What is left is counting: "other" codes with one comparison, and the runs with bit arithmetic on
the letter/digit bitmap (:func:`_run_tokens`). The codes and the numpy tables are
``char_codes.py``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mock_server.files.checks.char_codes import (
    ALNUM,
    BACKSLASH,
    BEYOND_ASCII_OR_ESCAPES,
    CODES,
    CONTINUATION,
    DELETE,
    LEAD2,
    NEWLINE,
    NOT_UTF8,
    OTHER,
    QUOTE_BYTE,
    SPACE,
    SPECIAL,
    U,
    tables,
)

if TYPE_CHECKING:  # numpy is imported on first use: the server starts without it
    import msgspec
    import numpy as np
    import numpy.typing as npt

    RawString = bytes | bytearray | memoryview | msgspec.Raw

    Codes = npt.NDArray[np.uint8]
    Positions = npt.NDArray[np.intp]

__all__ = ["NotStrings", "TokenCounter"]

_PIECE = 1 << 20  # bytes of text decoded at a time


class NotStrings(ValueError):
    """Some of the JSON values counted are not strings; ``indices`` says which (ascending)."""

    def __init__(self, indices: list[int]) -> None:
        super().__init__(f"not JSON strings: values {indices[:5]}...")
        self.indices = indices


class TokenCounter:
    """Counts the tokens of raw JSON strings. One per check: it keeps a scratch buffer, which
    makes it unfit to share between threads."""

    def __init__(self) -> None:
        import numpy as np

        self._tables = tables()
        self._scratch = np.empty(0, np.bool_)

    def count(self, strings: Sequence[RawString]) -> int:
        """``sum(count_tokens(json.loads(s)) for s in strings)``, for the raw JSON of values that
        msgspec has parsed (so escapes and surrogate pairs are well formed).

        Raises NotStrings naming every value that is not a string, before counting anything, and
        UnicodeDecodeError (without a useful position) if the bytes are not UTF-8.
        """
        if not strings:
            return 0
        import numpy as np

        joined = bytearray(b"\n").join(strings)
        _check_strings(np.frombuffer(joined, np.uint8), len(strings))
        dense = _dense(joined)
        if dense and joined.isascii():  # text beyond Latin, \u-escaped: msgspec unescapes it
            return self._count_decoded(joined, strings)
        if dense:  # text beyond Latin, in UTF-8: decoded by Python, a code per character
            codes = self._character_codes(joined)
            del joined
            a = np.frombuffer(codes, np.uint8)
        else:  # mostly ASCII: a code per byte, a character's UTF-8 continuation bytes dropped
            codes = joined.translate(CODES, CONTINUATION)
            a = np.frombuffer(codes, np.uint8)
        special = np.flatnonzero(np.greater_equal(a, SPECIAL, out=self._scratch_for(len(a))))
        kinds = a[special]

        if not dense:
            leads = kinds >= LEAD2
            if len(codes) != len(joined) or leads.any():
                deleted = len(joined) - len(codes)
                classes = self._utf8_classes(joined, special[leads], kinds[leads], deleted)
                a[special[leads]] = classes
            del joined  # as long as the line it was joined from, at most

        backslashes = special[kinds == BACKSLASH]
        if len(backslashes):
            codes = self._resolve_escapes(codes, a, backslashes)
            a = np.frombuffer(codes, np.uint8)
        # Each string brings two quotes that are no token.
        return self._count_classes(a) - 2 * len(strings)

    def _count_decoded(self, joined: bytearray, strings: Sequence[RawString]) -> int:
        """:meth:`count` for ASCII that is mostly ``\\u`` escapes: decoded to Python strings by
        msgspec, then classified a code point at a time."""
        import msgspec

        del joined
        array = bytearray(b"[") + bytearray(b",").join(strings) + b"]"
        text = "\n".join(msgspec.json.decode(array, type=list[str]))
        del array
        points = _code_points(text)
        del text
        return self._count_classes(self._tables.classes_of(points))

    def _character_codes(self, joined: bytearray) -> bytearray:
        """A code per character of ``joined``, decoded by Python (and so checked as the SDK
        would), a megabyte at a time: a Python string costs up to four bytes a character, and
        its code points four more."""
        import numpy as np

        codes = bytearray(len(joined))  # a byte at least to each character
        filled = 0
        start = 0
        while start < len(joined):
            end = cut = min(start + _PIECE, len(joined))
            while start < cut < len(joined) and 0x80 <= joined[cut] < 0xC0:
                cut -= 1  # back to the start of a character
            if cut == start:  # continuation bytes all along: not UTF-8, as decoding will say
                cut = end
            points = _code_points(str(memoryview(joined)[start:cut], "utf-8"))
            piece = np.frombuffer(codes, np.uint8, len(points), filled)
            self._tables.look_up(self._tables.codes, points, piece)
            del piece
            filled += len(points)
            start = cut
        del codes[filled:]
        return codes

    def _scratch_for(self, size: int) -> npt.NDArray[np.bool_]:
        import numpy as np

        if len(self._scratch) < size + 63:  # room to pad a bitmap to whole words
            self._scratch = np.empty(size + 63, np.bool_)
        return self._scratch[:size]

    def _count_classes(self, a: Codes) -> int:
        """The tokens of the characters whose codes are ``a``, resolved: space, other or letter
        or digit, by range."""
        import numpy as np

        scratch = self._scratch_for(len(a))
        others = int(np.count_nonzero(np.greater_equal(a, OTHER, out=scratch)))
        np.greater_equal(a, ALNUM, out=scratch)
        padded = self._scratch[: len(a) + -len(a) % 64]
        padded[len(a) :] = False
        words = np.packbits(padded, bitorder="little").view(np.uint64)
        letters = int(np.bitwise_count(words).sum())
        return others - letters + _run_tokens(words, self._tables.planes)

    def _utf8_classes(self, joined: bytearray, at: Positions, kinds: Codes, deleted: int) -> Codes:
        """The classes of the characters whose lead bytes are at ``at`` (positions in the codes,
        where their continuation bytes are gone). Raises UnicodeDecodeError unless every one is
        a well-formed UTF-8 sequence and every continuation byte belongs to one."""
        import numpy as np

        if (kinds == NOT_UTF8).any():
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        lengths = self._tables.length[kinds]
        extra = lengths - 1
        if int(extra.sum()) != deleted:  # a continuation byte without a lead, or one short
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid continuation byte")
        # Each lead's position in the joined bytes, then every byte of its sequence.
        starts = at + np.cumsum(extra) - extra
        first = np.cumsum(lengths) - lengths
        offsets = np.repeat(starts - first, lengths) + np.arange(int(lengths.sum()))
        if offsets[-1] >= len(joined):
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "unexpected end of data")
        sequences = np.frombuffer(joined, np.uint8)[offsets]
        follows = np.ones(len(sequences), np.bool_)
        follows[first] = False
        if ((sequences[follows] & 0xC0) != 0x80).any():
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid continuation byte")
        # Complete sequences now; decoding them rejects what remains (overlong forms, surrogates,
        # code points past U+10FFFF).
        chars = sequences.tobytes().decode("utf-8")
        points = np.frombuffer(chars.encode("utf-32-le"), np.uint32)
        return self._tables.classes_of(points)

    def _resolve_escapes(self, codes: bytearray, a: Codes, backslashes: Positions) -> bytearray:
        """Gives each escape the class of the character it stands for: the backslash becomes a
        space (no token, and no letter or digit follows an escape), the letter that character's
        class; a ``\\uXXXX`` keeps one code, for its character (a surrogate pair one for two).
        Returns the codes, without the dropped ones."""
        import numpy as np

        tables = self._tables
        starts = _escape_starts(backslashes)
        letters = a[starts + 1]
        a[starts] = SPACE
        unicode = letters == U
        if not unicode.any():
            a[starts + 1] = tables.escaped[letters]
            return codes
        simple = ~unicode
        a[starts[simple] + 1] = tables.escaped[letters[simple]]
        at = starts[unicode]
        digits = tables.hex_value[a[at[:, None] + np.arange(2, 6)]]
        points = (digits[:, 0] << 12) | (digits[:, 1] << 8) | (digits[:, 2] << 4) | digits[:, 3]
        a[(at[:, None] + np.arange(6)).ravel()] = DELETE
        # msgspec accepts a surrogate only in a pair: a high one is followed by its low one.
        high = np.flatnonzero((points >= 0xD800) & (points < 0xDC00))
        points[high] = 0x10000 + ((points[high] - 0xD800) << 10) + (points[high + 1] - 0xDC00)
        ends = at + 5
        ends[high] += 6
        own = ~((points >= 0xDC00) & (points < 0xE000))  # low surrogates stand for nothing
        a[ends[own]] = tables.classes_of(points[own])
        return codes.translate(None, bytes([DELETE]))


def _dense(joined: bytearray) -> bool:
    """Whether the strings are dense in characters beyond ASCII or escapes (judged on their
    first 8 KiB): faster decoded than looked at one by one. Either way counts the same."""
    sample = joined[:8192]
    beyond = len(sample) - len(sample.translate(None, BEYOND_ASCII_OR_ESCAPES))
    return beyond > len(sample) // 64


def _code_points(text: str) -> npt.NDArray[np.uint32]:
    import numpy as np

    return np.frombuffer(text.encode("utf-32-le"), np.uint32)


def _check_strings(joined: Codes, count: int) -> None:
    """Raises NotStrings unless each of the ``count`` values joined by newlines starts with a
    quote, as a string does and no other value. The pairs of a newline and a quote are counted
    as 16-bit codes, from even and from odd positions: no list of positions to make."""
    import numpy as np

    pair = NEWLINE | QUOTE_BYTE << 8
    even = np.frombuffer(joined, "<u2", len(joined) // 2)
    odd = np.frombuffer(joined, "<u2", (len(joined) - 1) // 2, offset=1)
    quoted = int(np.count_nonzero(even == pair) + np.count_nonzero(odd == pair))
    if joined[0] == QUOTE_BYTE and quoted == count - 1:
        return
    separators = np.flatnonzero(joined == NEWLINE)
    not_strings = np.flatnonzero(joined[separators + 1] != QUOTE_BYTE) + 1
    raise NotStrings(([0] if joined[0] != QUOTE_BYTE else []) + not_strings.tolist())


def _escape_starts(backslashes: Positions) -> Positions:
    """The backslashes that start an escape: in a run of them, every other one from the first
    (``\\\\`` is one escaped backslash)."""
    import numpy as np

    step = np.diff(backslashes)
    if not (step == 1).any():
        return backslashes
    first = np.flatnonzero(np.concatenate(([True], step != 1)))
    run_start = np.repeat(first, np.diff(np.append(first, len(backslashes))))
    starts: Positions = backslashes[(np.arange(len(backslashes)) - run_start) % 2 == 0]
    return starts


def _run_tokens(words: npt.NDArray[np.uint64], planes: tuple[np.uint64, np.uint64]) -> int:
    """``sum(ceil(L / 4))`` over the runs of set bits of ``words`` (one bitmap, bit ``i`` of word
    ``w`` for position ``64 w + i``; the last bit is clear).

    A run's tokens start at its first bit and every fourth after it: the bits whose position is
    congruent to the run's start, mod 4. For each of the two bits of that residue, adding the
    starts of the runs that have it set to the bitmap carries through exactly those runs, which
    so picks out every bit of them ("plane"). A bit starts a token where both planes agree with
    its own position's residue bits (the constant patterns ``planes``).
    """
    import numpy as np

    one = np.uint64(1)
    previous = words << one
    previous[1:] |= words[:-1] >> np.uint64(63)
    starts = words & ~previous
    differs = np.zeros_like(words)
    for pattern in planes:
        carried = _add(words, starts & pattern)
        differs |= ((carried ^ words) & words) ^ pattern
    return int(np.bitwise_count(words & ~differs).sum())


def _add(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """``a + b`` as two little-endian integers of 64-bit words (the last word's carry dropped)."""
    import numpy as np

    total = a + b
    carries = total < a  # out of each word, into the next
    for _ in range(3):  # a carry seldom goes on past the next word
        if not carries[:-1].any():
            return total
        carries[1:] = carries[:-1]
        carries[0] = False
        total += carries
        carries &= total == 0  # it went on through a word that was all ones
    if carries[:-1].any():  # a run of letters and digits across many words
        # The carry into a word is the one out of the last word before it that is not all ones.
        passes = total == np.uint64(0xFFFF_FFFF_FFFF_FFFF)
        last = np.maximum.accumulate(np.where(passes, -1, np.arange(len(total))))[:-1]
        total[1:] += carries[last] & (last >= 0)
    return total
