"""The lines of a dataset file as the SDK's text mode sees them, read with bounded memory.

The SDK checks a dataset by iterating a text-mode file, so both the line splitting (universal
newlines) and the position in a ``UnicodeDecodeError`` message are those of ``io.TextIOWrapper``.
Two readers give those lines without holding the file:

* :func:`iter_chunks`, the fast one: the raw bytes of the lines, a megabyte of them at a time,
  with ``\r\n`` and a lone ``\r`` turned into ``\n`` and the positions of the newlines found.
  No decoding: UTF-8 bytes of a character are never ``\n`` or ``\r``, so these are the text
  lines, encoded. Whoever decodes them finds out whether the file is UTF-8; when it is not,
  :func:`utf8_error` gives the error the SDK would have raised.
* :func:`iter_lines`, the exact one: decoded text lines, raising that error itself (CSV).

Neither holds a line longer than ``max_line_bytes``: such a line raises :class:`LineTooLong` as
soon as the limit is passed, so a 200 MB line costs no more memory than a 7 MB one.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from mock_server.core.limits import size

if TYPE_CHECKING:  # numpy is imported on first use: the server starts without it
    import numpy as np
    import numpy.typing as npt

__all__ = ["MAX_LINE_BYTES", "Chunk", "LineTooLong", "iter_chunks", "iter_lines", "utf8_error"]

# The longest line a dataset may have (together-sim's --max-line-bytes). The SDK has no such
# limit; the service must have one, as it holds a line to parse it, and so does the simulator.
# Checking holds a line about twice: its bytes and the values parsed from them. The worst case
# is one long string mixing ASCII with emoji, which Python stores at four bytes a character,
# after a decoding scratch of one more: about six bytes of memory for each byte of the line. At
# 7 MiB that stays under 50 MB, whatever the line. It still holds any text example a model can
# train on (the largest context in the catalogue, 32k tokens, is about 128 KB of text) and
# images of up to 5 MB each, base64-encoded; only an example with larger images is refused,
# where the SDK (up to 10 MB an image) would let it through.
MAX_LINE_BYTES = 7 * 2**20
# Bytes read at a time by iter_chunks.
_BLOCK_SIZE = 2**20


class LineTooLong(Exception):
    """Line ``line_number`` (1-based) is longer than ``limit`` bytes; ``message`` says so in
    the words of the file's validation report."""

    def __init__(self, line_number: int, limit: int) -> None:
        self.line_number = line_number
        self.limit = limit
        self.message = (
            f"Line {line_number} is longer than the limit of {limit} bytes ({size(limit)}; "
            "together-sim's --max-line-bytes sets it)."
        )
        super().__init__(self.message)


# The chunk size of io.TextIOWrapper. The SDK checks UTF-8 by iterating a text file, which
# decodes 8192-byte chunks; a UnicodeDecodeError's "position" is relative to the chunk (plus any
# incomplete sequence carried over from the one before). Decoding the same chunks with the same
# incremental decoder reproduces the SDK's message to the byte.
_CHUNK_SIZE = 8192


def iter_lines(fh: BinaryIO, max_line_bytes: int | None = None) -> Iterator[str]:
    """Yield the lines of a UTF-8 file as text-mode iteration would, without reading it all.

    Like ``open(path, encoding="utf-8")``: universal newlines ("\\r\\n" and a lone "\\r" become
    "\\n"), each line keeps its "\\n", the last line may lack one. Raises UnicodeDecodeError with
    the SDK's position semantics (see ``_CHUNK_SIZE``), and LineTooLong as soon as a line passes
    ``max_line_bytes`` UTF-8 bytes (without its newline). Only the current line is held in memory.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    partial: list[str] = []  # the pieces of a line that has not ended yet
    partial_bytes = 0
    number = 0  # lines yielded so far
    cr_pending = False  # a chunk ended in "\r": it may be the first half of "\r\n"
    while True:
        chunk = fh.read(_CHUNK_SIZE)
        final = not chunk
        text = decoder.decode(chunk, final)
        if cr_pending:
            text = "\r" + text
            cr_pending = False
        if not final and text.endswith("\r"):
            text = text[:-1]
            cr_pending = True
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        pieces = text.split("\n")
        if max_line_bytes is not None:
            partial_bytes = _open_line_bytes(pieces, partial_bytes, number, max_line_bytes)
        if len(pieces) > 1:
            partial.append(pieces[0])
            yield "".join(partial) + "\n"
            for piece in pieces[1:-1]:
                yield piece + "\n"
            number += len(pieces) - 1
            partial = []
        if pieces[-1]:
            partial.append(pieces[-1])
        if final:
            break
    if partial:
        yield "".join(partial)


def _open_line_bytes(pieces: list[str], carried: int, number: int, limit: int) -> int:
    """The UTF-8 length of the line still open after ``pieces`` (a text split on "\\n" whose
    first piece continues a line of ``carried`` bytes); raises LineTooLong for one over
    ``limit``. ``number`` lines came before the first piece's."""
    length = carried
    for i, piece in enumerate(pieces):
        length = (carried if i == 0 else 0) + (
            len(piece) if piece.isascii() else len(piece.encode())
        )
        if length > limit:
            raise LineTooLong(number + i + 1, limit)
    return length


def utf8_error(fh: BinaryIO) -> UnicodeDecodeError | None:
    """The error the SDK's text mode raises on this file (read from where ``fh`` stands, which
    should be its start), or None when it is UTF-8. Decodes the chunks that ``iter_lines`` does,
    so the position in the message is the same, and holds one chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := fh.read(_CHUNK_SIZE):
            decoder.decode(chunk)
        decoder.decode(b"", True)
    except UnicodeDecodeError as exc:
        return exc
    return None


class Chunk:
    """``count`` whole lines of a file, from line ``first + 1`` on: ``data`` holds them (without
    their newlines) separated by ``b"\\n"``, ``ends`` the positions of those separators."""

    __slots__ = ("count", "data", "ends", "first")

    def __init__(
        self, data: bytes | bytearray | memoryview, ends: npt.NDArray[np.intp], first: int
    ) -> None:
        self.data = data
        self.ends = ends
        self.first = first
        self.count = len(ends) + 1

    def line(self, i: int) -> memoryview:
        """Line ``i`` (0-based, in the chunk), without its newline."""
        begin = int(self.ends[i - 1]) + 1 if i else 0
        end = int(self.ends[i]) if i < len(self.ends) else len(self.data)
        return memoryview(self.data)[begin:end]

    def lines(self) -> list[memoryview]:
        """Every line, as :meth:`line` gives it."""
        view = memoryview(self.data)
        bounds = [-1, *self.ends.tolist(), len(self.data)]
        return [view[bounds[i] + 1 : bounds[i + 1]] for i in range(self.count)]

    def plain_objects(self) -> bool:
        """Whether every line is a single ``{...}``, nothing around it: then a decoder of
        newline-delimited JSON sees one value a line."""
        import numpy as np

        data = np.frombuffer(self.data, np.uint8)
        return bool(
            len(data) >= 2
            and data[0] == _OPEN
            and data[-1] == _CLOSE
            and (data[self.ends - 1] == _CLOSE).all()
            and (data[self.ends + 1] == _OPEN).all()
        )


_OPEN, _CLOSE = ord("{"), ord("}")


def iter_chunks(fh: io.BufferedIOBase, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Chunk]:
    """Yield the file's lines in chunks (:class:`Chunk`) of about a megabyte.

    The lines are those of text-mode iteration (universal newlines; the last may lack a newline;
    no empty line after a final newline). Raises LineTooLong, after yielding every line before
    it, for a line of more than ``max_line_bytes`` bytes; such a line is never held whole.

    The chunks are views of one buffer, read into again for the next chunk: a chunk is good until
    the next one is asked for.
    """
    import numpy as np

    # A block, what is left of the one before (usually a part of a line), and room for a "\r"
    # carried over and one more byte.
    buffer = bytearray(_BLOCK_SIZE + _BLOCK_SIZE // 2 + 2)
    held = 0  # the buffer starts with the start of a line that has not ended yet
    number = 0  # lines yielded so far
    cr_pending = False  # the last block ended in "\r": it may be the first half of "\r\n"
    newlines = np.empty(0, np.bool_)  # scratch, to find them
    while True:
        if len(buffer) - held - 2 < _BLOCK_SIZE:  # a long line: room for it and a block
            buffer = _grown(buffer, held, held + _BLOCK_SIZE + 2)
        read = fh.readinto(memoryview(buffer)[held : held + _BLOCK_SIZE])
        if not read:
            break
        if cr_pending or buffer.find(b"\r", held, held + read) >= 0:
            read = _normalize_newlines(buffer, held, read, cr_pending)
            cr_pending = buffer[held + read] == _CR
        cut = buffer.rfind(b"\n", held, held + read) - held  # the last complete line ends here
        if cut < 0:
            if held + read > max_line_bytes:
                raise LineTooLong(number + 1, max_line_bytes)
            held += read
            continue
        codes = np.frombuffer(buffer, np.uint8, cut, held)
        if len(newlines) < cut:
            newlines = np.empty(cut, np.bool_)
        ends = np.flatnonzero(np.equal(codes, _NEWLINE, out=newlines[:cut])) + held
        del codes  # no view of the buffer left here, so that it can grow in place
        size = held + cut  # of the chunk: the line carried over, and the block's lines
        chunk = memoryview(buffer)[:size]
        if size > max_line_bytes:
            lengths = np.diff(ends, prepend=-1, append=size) - 1
            too_long = np.flatnonzero(lengths > max_line_bytes)
            if len(too_long):
                k = int(too_long[0])
                if k:
                    yield Chunk(chunk[: ends[k - 1]], ends[: k - 1], number)
                raise LineTooLong(number + k + 1, max_line_bytes)
        yield Chunk(chunk, ends, number)
        del chunk
        number += len(ends) + 1
        rest = read - cut - 1  # the start of the next line, moved to the buffer's start
        if rest > max_line_bytes:
            raise LineTooLong(number + 1, max_line_bytes)
        buffer[:rest] = buffer[size + 1 : size + 1 + rest]
        held = rest
    if held or cr_pending:  # a last line without a newline, or ended by a final "\r"
        yield Chunk(memoryview(buffer)[:held], np.empty(0, np.intp), number)


def _grown(buffer: bytearray, held: int, size: int) -> bytearray:
    """A buffer of ``size`` bytes that starts with ``buffer``'s first ``held``: ``buffer`` itself,
    grown in place, unless a view of it is still in use somewhere."""
    try:
        buffer.extend(bytes(size - len(buffer)))
    except BufferError:
        grown = bytearray(size)
        grown[:held] = memoryview(buffer)[:held]
        return grown
    return buffer


def _normalize_newlines(buffer: bytearray, at: int, size: int, cr_pending: bool) -> int:
    """Turns "\r\n" and a lone "\r" into "\n" in ``buffer[at : at + size]``, in place, where a
    "\r" carried over from the block before comes first; returns the new size. A last "\r" is
    left just past the end, to be carried over in turn: it may be the first half of "\r\n"."""
    data = bytes(buffer[at : at + size])
    if cr_pending:
        data = b"\r" + data
    last = b""
    if data.endswith(b"\r"):
        data, last = data[:-1], b"\r"
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    buffer[at : at + len(data) + 1] = data + (last or b"\0")
    return len(data)


_CR = ord("\r")
_NEWLINE = ord("\n")
