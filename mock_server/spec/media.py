"""Bytes for the spec's non-JSON responses: audio, raw PCM, text, downloads and event streams.

Each is a small but genuine instance of its type (a WAV that ``wave`` opens, MPEG frames with
valid headers, SSE that an SSE parser reads), so a client that checks the content type, decodes
the audio or iterates the stream works as against the service. Which type answers a request is
decided the way the service does: ``stream: true`` asks for events, ``response_format`` names an
audio format, then the ``Accept`` header, then JSON.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from mock_server.core.audio_bytes import silent_mp3, wav

__all__ = ["SSE", "binary_body", "choose_content_type", "is_json", "sse_body"]

SSE = "text/event-stream"

# ``response_format`` values (AudioSpeechRequest) and the content types that carry them.
_FORMAT_TYPES = {
    "mp3": ("audio/mpeg", "audio/mp3"),
    "wav": ("audio/wav", "audio/x-wav", "audio/wave"),
    "raw": ("application/octet-stream",),
    "pcm": ("application/octet-stream",),
}
_SAMPLE_RATE = 24_000


def is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def choose_content_type(offered: Iterable[str], body: Any, accept: str) -> str | None:
    """The documented content type that answers this request (None: no body documented)."""
    types = list(offered)
    if not types:
        return None
    wants = body if isinstance(body, Mapping) else {}
    if SSE in types and wants.get("stream") is True:
        return SSE
    streamless = [t for t in types if t != SSE] or types
    fmt = wants.get("response_format")
    if isinstance(fmt, str):
        for candidate in _FORMAT_TYPES.get(fmt.lower(), ()):
            if candidate in streamless:
                return candidate
    for accepted in (part.split(";", 1)[0].strip().lower() for part in accept.split(",")):
        if accepted in streamless and accepted != "application/json":
            return accepted
    return next((t for t in streamless if is_json(t)), streamless[0])


@functools.cache
def _silence(seconds: float = 0.1) -> bytes:
    return b"\x00\x00" * int(_SAMPLE_RATE * seconds)  # 16-bit little-endian mono


@functools.cache
def _wav() -> bytes:
    return wav(_silence(), sample_rate=_SAMPLE_RATE)


@functools.cache
def _mp3() -> bytes:
    return silent_mp3(0.1)  # as long as the WAV: four frames at 44.1 kHz and 128 kbit/s


def binary_body(content_type: str, example: Any = None) -> bytes:
    """Bytes of ``content_type``; a string example from the schema is used for text."""
    if content_type in _FORMAT_TYPES["wav"]:
        return _wav()
    if content_type in _FORMAT_TYPES["mp3"]:
        return _mp3()
    if content_type.startswith("text/"):
        text = example if isinstance(example, str) and example else "example"
        return (text if text.endswith("\n") else text + "\n").encode()
    return _silence()  # octet-stream: raw PCM is what the audio operations mean by it


def sse_body(events: Iterable[Mapping[str, Any]]) -> bytes:
    """Server-sent events from objects whose fields are SSE fields (``data``, ``event``, ``id``,
    ``retry``): the spec describes a stream as a union of such objects (ChatCompletionEvent,
    StreamSentinel). sse-starlette encodes them (imported here, by the first stream), with LF line
    ends as the service sends them; a non-string ``data`` goes as compact JSON."""
    from sse_starlette import ServerSentEvent

    def text(value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"))

    return b"".join(
        ServerSentEvent(
            text(event.get("data")),
            event=text(event.get("event")),
            id=text(event.get("id")),
            retry=event.get("retry"),
            sep="\n",
        ).encode()
        for event in events
    )
