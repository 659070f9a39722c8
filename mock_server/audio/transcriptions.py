"""Transcriptions and translations: the request as the spec describes it, and the answer, built
the same way for ``POST /audio/transcriptions`` (a multipart upload or a URL) and for the lines of
an audio batch (a URL in the line's body).

A URL is never fetched (the simulator is offline): its audio is taken to last 5 to 30 seconds,
drawn from the URL, so the same URL always gives the same transcript.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict

from mock_server.audio.speech import transcribe
from mock_server.catalogue.serverless import transcription_model, unavailable
from mock_server.core.errors import InvalidRequest
from mock_server.core.ids import stable_int
from mock_server.core.lazy_model import LazyModel

__all__ = ["TranscriptionRequest", "transcription_body"]

Task = Literal["transcribe", "translate"]


class TranscriptionRequest(LazyModel):
    """``AudioTranscriptionRequest`` (and ``AudioTranslationRequest``, its subset) without the
    file, which arrives as bytes or a URL."""

    model_config = ConfigDict(extra="ignore")
    model: str = "openai/whisper-large-v3"
    language: str = "en"
    prompt: str | None = None
    response_format: Literal["json", "verbose_json"] = "json"
    temperature: float = 0.0
    timestamp_granularities: str | list[str] = "segment"
    diarize: bool = False
    min_speakers: int | None = None
    max_speakers: int | None = None

    @property
    def granularities(self) -> set[str]:
        given = self.timestamp_granularities
        return {given} if isinstance(given, str) else set(given)

    def speakers(self) -> int | None:
        """How many speakers take turns in a diarized transcript (two unless bounded)."""
        if not self.diarize:
            return None
        low, high = self.min_speakers or 1, self.max_speakers or max(self.min_speakers or 2, 2)
        if low > high:
            raise InvalidRequest(
                f"min_speakers ({low}) must not exceed max_speakers ({high})", param="min_speakers"
            )
        return max(1, min(max(2, low), high))


def transcription_body(
    request: TranscriptionRequest, *, audio: bytes | None, url: str | None, task: Task
) -> dict[str, Any]:
    """The ``json`` or ``verbose_json`` answer to ``request`` for the uploaded ``audio`` or the
    audio at ``url``."""
    if transcription_model(request.model) is None:
        raise unavailable(request.model, status=400)
    if audio is not None and not audio:
        raise InvalidRequest("The audio file is empty", param="file")
    duration = None
    if audio is None:
        if url is None or not url.startswith(("http://", "https://")):
            raise InvalidRequest(
                "file must be an audio upload or a public http(s) URL", param="file"
            )
        audio = url.encode()
        duration = float(5 + stable_int(url) % 26)
    transcript = transcribe(
        audio, model=request.model, language=request.language, task=task, duration=duration
    )
    if request.response_format == "json":
        return {"text": transcript.text}
    return transcript.verbose(granularities=request.granularities, speakers=request.speakers())
