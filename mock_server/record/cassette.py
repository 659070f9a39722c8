"""The cassette: a directory a person can read, holding one recorded session.

    DIR/
      cassette.json                 {"format": "together-sim-cassette", "version": 1, "target": …}
      exchanges/0001-POST-v1-files.json
      exchanges/0002-PUT-_uploads-file-….json    one pretty-printed JSON object per exchange,
      …                                           named by its sequence number (arrival order)
      bodies/0002-request.bin                     bodies kept as files (uploads, downloads)
      drift.md, drift.json                        the drift report, written when recording ends

One file per exchange rather than one JSON-lines index: each is written whole when its
response ends (a stream may take minutes, and requests overlap), a crash loses at most the
exchanges in flight, and the sorted names are the order the requests arrived in.

An exchange holds the request (method, path, query pairs, selected headers, body) and the
response (status, headers, body). A body is a small tagged object, by ``kind``:
``empty``; ``json`` (``json``: the value); ``text``; ``form`` (``fields``); ``multipart``
(``fields`` and ``files``: name → ``{filename, content_type, sha256, size, path}``); ``sse``
(``events``: ``[{"data": …, "event"?: …, "id"?: …}]``, JSON data parsed); ``binary``
(``content_type``, ``sha256``, ``size`` and ``path`` under ``bodies/``, or ``null`` with a
``note`` when it was not kept).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_server import __version__

__all__ = [
    "FORMAT",
    "VERSION",
    "Cassette",
    "CassetteError",
    "CassetteWriter",
    "Exchange",
    "RecordedRequest",
    "RecordedResponse",
    "load_cassette",
]

FORMAT = "together-sim-cassette"
VERSION = 1


class CassetteError(Exception):
    """A directory that is not a cassette this version can read, or cannot be written to."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: dict[str, Any]
    # The origin the request went to when it was not the target's (a presigned upload's host).
    origin: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        if self.origin is not None:
            out["origin"] = self.origin
        out |= {
            "path": self.path,
            "query": [list(pair) for pair in self.query],
            "headers": self.headers,
            "body": self.body,
        }
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RecordedRequest:
        return cls(
            method=str(raw["method"]),
            path=str(raw["path"]),
            query=[(str(k), str(v)) for k, v in raw.get("query", [])],
            headers={str(k): str(v) for k, v in raw.get("headers", {}).items()},
            body=dict(raw.get("body") or {"kind": "empty"}),
            origin=raw.get("origin"),
        )


@dataclass(frozen=True)
class RecordedResponse:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "headers": self.headers, "body": self.body}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RecordedResponse:
        return cls(
            status=int(raw["status"]),
            headers={str(k): str(v) for k, v in raw.get("headers", {}).items()},
            body=dict(raw.get("body") or {"kind": "empty"}),
        )


@dataclass(frozen=True)
class Exchange:
    seq: int
    started_at: str
    duration_ms: int
    request: RecordedRequest
    response: RecordedResponse | None  # None when the upstream could not be reached
    error: str | None = None

    @property
    def line(self) -> str:
        where = f"{self.request.origin}{self.request.path}" if self.request.origin else ""
        return f"#{self.seq} {self.request.method} {where or self.request.path}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "request": self.request.to_json(),
            "response": self.response.to_json() if self.response else None,
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Exchange:
        response = raw.get("response")
        return cls(
            seq=int(raw["seq"]),
            started_at=str(raw.get("started_at", "")),
            duration_ms=int(raw.get("duration_ms", 0)),
            request=RecordedRequest.from_json(raw["request"]),
            response=RecordedResponse.from_json(response) if response else None,
            error=raw.get("error"),
        )


@dataclass(frozen=True)
class Cassette:
    root: Path
    target: str
    exchanges: tuple[Exchange, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def body_file(self, body: dict[str, Any]) -> Path | None:
        """The file a ``binary`` body (or a multipart part) was kept in, if it was."""
        path = body.get("path")
        return self.root / str(path) if path else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "root"


def _write_json(path: Path, value: Any) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    part.replace(path)


class CassetteWriter:
    """Writes one session's exchanges as they finish; sequence numbers are handed out when
    requests arrive, so the files sort in arrival order whatever order they end in."""

    def __init__(self, root: Path, *, target: str, started_at: str) -> None:
        self.root = root
        self.exchanges_dir = root / "exchanges"
        self.bodies_dir = root / "bodies"
        if self.exchanges_dir.is_dir() and any(self.exchanges_dir.iterdir()):
            raise CassetteError(f"{root} already holds a recording; choose an empty --out")
        self.exchanges_dir.mkdir(parents=True, exist_ok=True)
        self.bodies_dir.mkdir(exist_ok=True)
        _write_json(
            root / "cassette.json",
            {
                "format": FORMAT,
                "version": VERSION,
                "target": target,
                "recorded_with": f"together-sim {__version__}",
                "started_at": started_at,
            },
        )
        self._seq = 0
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def body_path(self, seq: int, role: str) -> Path:
        return self.bodies_dir / f"{seq:04d}-{role}.bin"

    def write(self, exchange: Exchange) -> Path:
        request = exchange.request
        name = f"{exchange.seq:04d}-{request.method}-{_slug(request.path)}.json"
        path = self.exchanges_dir / name
        _write_json(path, exchange.to_json())
        return path


def load_cassette(root: Path) -> Cassette:
    """Read a cassette directory; raises :class:`CassetteError` naming what is wrong."""
    meta_path = root / "cassette.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CassetteError(f"{root} is not a cassette: no cassette.json") from exc
    except ValueError as exc:
        raise CassetteError(f"{meta_path}: not JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CassetteError(f"{meta_path}: format {meta.get('format')!r} is not {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise CassetteError(
            f"{meta_path}: version {meta.get('version')!r}; this together-sim reads {VERSION}"
        )
    exchanges = []
    for path in sorted((root / "exchanges").glob("*.json")):
        try:
            exchanges.append(Exchange.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, KeyError, TypeError) as exc:
            raise CassetteError(f"{path}: not a recorded exchange ({exc})") from exc
    exchanges.sort(key=lambda e: e.seq)
    return Cassette(root=root, target=str(meta["target"]), exchanges=tuple(exchanges), meta=meta)
