"""UTF-8 lines from a binary file, one at a time, failing exactly where the SDK's text mode does.

The SDK checks a dataset by iterating a text-mode file, so both the line splitting (universal
newlines) and the position in a ``UnicodeDecodeError`` message are those of ``io.TextIOWrapper``.
Reading the whole file to get them would cost memory the size of an upload; this reader gets them
while holding one line.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["iter_lines"]

# The chunk size of io.TextIOWrapper. The SDK checks UTF-8 by iterating a text file, which
# decodes 8192-byte chunks; a UnicodeDecodeError's "position" is relative to the chunk (plus any
# incomplete sequence carried over from the one before). Decoding the same chunks with the same
# incremental decoder reproduces the SDK's message to the byte.
_CHUNK_SIZE = 8192


def iter_lines(fh: BinaryIO) -> Iterator[str]:
    """Yield the lines of a UTF-8 file as text-mode iteration would, without reading it all.

    Like ``open(path, encoding="utf-8")``: universal newlines ("\\r\\n" and a lone "\\r" become
    "\\n"), each line keeps its "\\n", the last line may lack one. Raises UnicodeDecodeError with
    the SDK's position semantics (see ``_CHUNK_SIZE``). Only the current line is held in memory.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    partial: list[str] = []  # the pieces of a line that has not ended yet
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
        if len(pieces) > 1:
            partial.append(pieces[0])
            yield "".join(partial) + "\n"
            for piece in pieces[1:-1]:
                yield piece + "\n"
            partial = []
        if pieces[-1]:
            partial.append(pieces[-1])
        if final:
            break
    if partial:
        yield "".join(partial)
