"""Videos (``POST /videos``, ``GET /videos/{id}``): a generation job, then a URL to the video.

The spec puts these operations under its ``https://api.together.ai/v2`` server, which is where SDK
3.x sends them (``/v2/videos``); they are served there and under ``/v1`` as well. Nothing is
generated. A job is ``in_progress`` for 12 s per second of clip at the service's pace (60 s for
the default 5 s), then ``completed``, with ``completed_at`` and ``outputs``: a ``video_url`` on
this server (signed, no key needed) serving a small file in the requested ``output_format`` (an
MP4 or WebM container with no frames, that says so inside), and a ``cost`` of 0.

``size`` is ``<width>x<height>`` when both are given and positive, else the ``resolution`` asked
for, else 1280x720; ``seconds`` defaults to 5 (both estimates of the service's defaults). The spec
bounds neither the dimensions nor ``seconds`` (a free string), so no value of them is refused.
"""

from __future__ import annotations

import struct
from typing import Any

from mock_server.core.errors import InvalidRequest
from mock_server.core.lifecycle import begin, entered_at
from mock_server.core.timefmt import unix
from mock_server.families.base import Call, Operation, path_param
from mock_server.families.engine import Family, Record, Resources, prefixed
from mock_server.files.downloads import Download, signed_url

__all__ = ["DOWNLOADS", "OPERATIONS", "VIDEOS", "video_bytes"]

SECONDS_PER_CLIP_SECOND = 12.0
MAX_SECONDS = 60  # an estimate: the service's clips are seconds long
_LABEL = b"together-sim: a simulated video with no frames"


def _file_name(record: Record) -> str:
    return f"{record.id}.{record.private['format'].lower()}"


def _view(resources: Resources, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    if body["status"] == "completed":
        assert record.progress is not None
        done = entered_at(record.progress, "completed")
        assert done is not None
        url = signed_url(
            resources.store,
            record.private["base_url"],
            record.tenant,
            "video",
            record.id,
            _file_name(record),
        )
        body["completed_at"] = unix(done)
        body["outputs"] = {"cost": 0, "video_url": url}
    return body


VIDEOS = Family(kind="video", schema="GET /videos/{id}", new_id=prefixed("video"), view=_view)


def _clip_seconds(request: dict[str, Any]) -> float:
    """How long the job runs for: ``seconds`` when it reads as a positive number (at most
    ``MAX_SECONDS``), else the default 5. The spec leaves ``seconds`` a free string and the
    SDK's generated tests send words, so nothing it allows is refused; it is echoed as sent."""
    try:
        seconds = float(request.get("seconds", "5"))
    except ValueError:
        return 5.0
    return min(seconds, MAX_SECONDS) if 0 < seconds < float("inf") else 5.0


def create_video(resources: Resources, call: Call) -> Any:
    request = call.json()
    if "model" not in request:  # the spec leaves the body optional, and its schema needs model
        raise InvalidRequest("model is required", param="model")
    width, height = request.get("width"), request.get("height")
    has_size = width is not None and height is not None and width > 0 and height > 0
    size = f"{width}x{height}" if has_size else request.get("resolution", "1280x720")
    steps = (("in_progress", SECONDS_PER_CLIP_SECOND * _clip_seconds(request)),)
    record = resources.create(
        VIDEOS,
        call.tenant,
        request=request,
        fields={"object": "video", "size": size, "seconds": request.get("seconds", "5")},
        private={"base_url": call.base_url, "format": request.get("output_format", "MP4")},
        progress=begin(steps, "completed", resources.now(), resources.speed),
    )
    return resources.render(VIDEOS, record)


def get_video(resources: Resources, call: Call) -> Any:
    param = path_param("GET /videos/{id}")
    return resources.render(
        VIDEOS, resources.get(VIDEOS, call.tenant, call.path[param], param=param)
    )


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    assert len(payload) < 127
    return element_id + bytes([0x80 | len(payload)]) + payload


def video_bytes(output_format: str) -> tuple[bytes, str]:
    """A container with no frames and a note saying so: an ISO BMFF ``ftyp`` and ``free`` box
    (MP4), or an EBML header and a Void element (WebM)."""
    if output_format == "WEBM":
        header = b"".join(
            [
                _ebml(b"\x42\x86", b"\x01"),  # EBMLVersion
                _ebml(b"\x42\xf7", b"\x01"),  # EBMLReadVersion
                _ebml(b"\x42\xf2", b"\x04"),  # EBMLMaxIDLength
                _ebml(b"\x42\xf3", b"\x08"),  # EBMLMaxSizeLength
                _ebml(b"\x42\x82", b"webm"),  # DocType
                _ebml(b"\x42\x87", b"\x04"),  # DocTypeVersion
                _ebml(b"\x42\x85", b"\x02"),  # DocTypeReadVersion
            ]
        )
        return _ebml(b"\x1a\x45\xdf\xa3", header) + _ebml(b"\xec", _LABEL), "video/webm"
    brands = b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41"
    return _box(b"ftyp", brands) + _box(b"free", _LABEL), "video/mp4"


def video_download(resources: Resources, tenant: str, video_id: str, name: str) -> Download:
    record = resources.get(VIDEOS, tenant, video_id, param="id")
    data, media = video_bytes(record.private["format"])
    return Download(data, media)


OPERATIONS = [
    Operation("POST /videos", create_video, also=("/v2/videos",)),
    Operation("GET /videos/{id}", get_video, also=("/v2/videos/{id}",)),
]
DOWNLOADS = {"video": video_download}
