"""Bodies as they stream by: tapped without holding them whole, then summarised for a cassette.

A :class:`Tap` sees each chunk on its way through: it hashes it, keeps the first bytes in
memory (enough for a JSON reply, a form or an SSE stream) and, for bodies meant to be files
(uploads, downloads), writes them to disk as they come, up to a limit. So a 10 GiB download
passes through the proxy with a constant amount of memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartParser

from mock_server.record.redact import Redactor

__all__ = [
    "MEMORY_LIMIT",
    "Tap",
    "Tapped",
    "parse_sse",
    "render_sse",
    "request_body",
    "response_body",
    "wants_file",
]

MEMORY_LIMIT = 16 << 20  # text bodies (JSON, SSE, forms) above this are kept as files instead
_TEXTUAL = ("json", "text/", "event-stream", "x-www-form-urlencoded", "multipart/form-data")


def wants_file(content_type: str) -> bool:
    """Whether a body of this type is data (kept as a file) rather than a message (parsed)."""
    return not any(marker in content_type.lower() for marker in _TEXTUAL)


@dataclass(frozen=True)
class Tapped:
    sha256: str
    size: int
    data: bytes | None  # the whole body, when it fit in memory
    file: Path | None  # the whole body on disk, when it was kept
    note: str | None = None  # why a body meant to be kept as a file was not


class Tap:
    """Watches one body go by. It stays in memory up to ``memory_limit`` (0 for a download);
    beyond, it goes to ``file``. At :meth:`close` the caller says whether it wants the body as a
    file; one over ``file_limit``, or holding a remembered secret, is not kept (its hash and
    size are)."""

    def __init__(
        self,
        *,
        redactor: Redactor,
        file: Path | None = None,
        file_limit: int | None = None,
        memory_limit: int = MEMORY_LIMIT,
    ) -> None:
        self._redactor = redactor
        self._sha = hashlib.sha256()
        self._size = 0
        self._memory: bytearray | None = bytearray()
        self._memory_limit = memory_limit
        self._path = file
        self._file_limit = file_limit
        self._out: BinaryIO | None = None
        self._note: str | None = None
        self._tail = b""  # the end of the previous chunk, so a secret split over two is seen

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._sha.update(chunk)
        self._size += len(chunk)
        if self._memory is not None and self._size <= self._memory_limit:
            self._memory.extend(chunk)
            return
        if self._memory is not None:  # overflowing now: what was held goes to disk first
            chunk, self._memory = bytes(self._memory) + chunk, None
        self._spill(chunk)

    def _spill(self, chunk: bytes) -> None:
        if self._path is None or self._note is not None:
            return
        if self._file_limit is not None and self._size > self._file_limit:
            self._note = f"not kept: larger than {self._file_limit} bytes"
        elif self._redactor.contains_secret(self._tail + chunk):
            self._note = "not kept: it contains a credential"
        else:
            if self._out is None:
                self._out = self._path.open("wb")
            self._out.write(chunk)
        self._tail = chunk[-256:]

    def close(self, *, as_file: bool) -> Tapped:
        data = bytes(self._memory) if self._memory is not None else None
        if as_file and data is not None and self._out is None:
            self._spill(data)
        if self._out is not None:
            self._out.close()
        kept = self._path if self._out is not None and self._note is None else None
        if self._path is not None and kept is None:
            self._path.unlink(missing_ok=True)
        return Tapped(self._sha.hexdigest(), self._size, data, kept, self._note)


def _binary(content_type: str, tapped: Tapped, root: Path) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "binary",
        "content_type": content_type,
        "sha256": tapped.sha256,
        "size": tapped.size,
        "path": tapped.file.relative_to(root).as_posix() if tapped.file else None,
    }
    if tapped.note:
        body["note"] = tapped.note
    return body


def _text_kind(content_type: str, data: bytes, redactor: Redactor) -> dict[str, Any]:
    text = data.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return {"kind": "json", "json": redactor.json(json.loads(text))}
        except ValueError:
            pass  # a body that says JSON and is not: kept as text, so the report can say so
    if "event-stream" in content_type:
        return {"kind": "sse", "events": redactor.json(parse_sse(text))}
    return {"kind": "text", "content_type": content_type, "text": redactor.scrub(text)}


async def _one_chunk(data: bytes) -> AsyncGenerator[bytes, None]:
    yield data


async def _multipart(
    content_type: str, data: bytes, redactor: Redactor, stem: Path | None, root: Path
) -> dict[str, Any]:
    parser = MultiPartParser(Headers({"content-type": content_type}), _one_chunk(data))
    form = await parser.parse()
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                tap = Tap(
                    redactor=redactor,
                    file=stem.with_name(f"{stem.stem}-{name}.bin") if stem else None,
                )
                tap.feed(await value.read())
                files[name] = {
                    "filename": value.filename,
                    **_binary(value.content_type or "", tap.close(as_file=True), root),
                }
            else:
                fields[name] = value
    finally:
        await form.close()
    return {"kind": "multipart", "fields": redactor.json(fields), "files": files}


async def request_body(
    content_type: str, tapped: Tapped, redactor: Redactor, root: Path, stem: Path | None = None
) -> dict[str, Any]:
    """A request body as a cassette holds it (``root``: the cassette, for relative paths);
    ``tapped`` was closed with ``as_file=wants_file(content_type)``. A multipart body's files
    are kept beside ``stem`` (``bodies/0003-request.bin`` → ``0003-request-file.bin``)."""
    lowered = content_type.lower()
    if tapped.size == 0:
        return {"kind": "empty"}
    if tapped.data is None or wants_file(lowered):
        return _binary(content_type, tapped, root)
    if "multipart/form-data" in lowered:
        return await _multipart(content_type, tapped.data, redactor, stem, root)
    if "x-www-form-urlencoded" in lowered:
        pairs = parse_qsl(tapped.data.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {"kind": "form", "fields": redactor.json(dict(pairs))}
    return _text_kind(lowered, tapped.data, redactor)


def response_body(
    content_type: str, tapped: Tapped, redactor: Redactor, root: Path
) -> dict[str, Any]:
    lowered = content_type.lower()
    if tapped.size == 0:
        return {"kind": "empty"}
    if tapped.data is None or wants_file(lowered):
        return _binary(content_type, tapped, root)
    return _text_kind(lowered, tapped.data, redactor)


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Server-sent events, each ``{"data": …}`` (JSON data parsed) plus ``event``/``id`` when
    given. Comments (``: ping``) carry nothing a client reads and are dropped."""
    events: list[dict[str, Any]] = []
    data: list[str] = []
    extra: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n") + [""]:
        if line == "":
            if data or extra:
                joined = "\n".join(data)
                try:
                    value: Any = json.loads(joined)
                except ValueError:
                    value = joined
                events.append({**extra, "data": value})
            data, extra = [], {}
            continue
        if line.startswith(":"):
            continue
        name, _, value_text = line.partition(":")
        value_text = value_text[1:] if value_text.startswith(" ") else value_text
        if name == "data":
            data.append(value_text)
        elif name in ("event", "id", "retry"):
            extra[name] = value_text
    return events


def render_sse(events: list[dict[str, Any]]) -> bytes:
    out: list[str] = []
    for event in events:
        for name in ("event", "id", "retry"):
            if name in event:
                out.append(f"{name}: {event[name]}\n")
        data = event.get("data")
        text = data if isinstance(data, str) else json.dumps(data)
        out.extend(f"data: {line}\n" for line in text.split("\n"))
        out.append("\n")
    return "".join(out).encode("utf-8")
