"""Audio: speech from text (a WAV, MP3 or raw PCM whose length follows the text, or a stream of
``audio.tts.chunk`` events), transcriptions and translations of an upload or a URL (labelled
simulated text; ``json`` or ``verbose_json``), and the voices of each speech model."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mock_server.audio.speech import encode, pcm_chunks, speak
from mock_server.audio.transcriptions import Task, TranscriptionRequest, transcription_body
from mock_server.catalogue.serverless import SPEECH_MODELS, SpeechModel, speech_model, unavailable
from mock_server.core.errors import InvalidRequest
from mock_server.core.offload import off_loop
from mock_server.deps import TenantDep
from mock_server.spec.media import SSE, sse_body
from mock_server.spec.routing import SpecRequestDep, SpecRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Audio", "Voices"], route_class=SpecRoute)

MAX_INPUT = 4096  # characters; estimated: the service's limit is not published
SAMPLE_RATES = (8_000, 16_000, 22_050, 24_000, 44_100, 48_000)  # estimated: Cartesia's set
_CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "raw": "application/octet-stream"}
_WEIGHT = re.compile(r"\(\d+(?:\.\d+)?\)$")


def _check_voice(model: SpeechModel, voice: str) -> None:
    """One of the model's voices; for Kokoro also a mix, ``af_bella(2)+af_heart(1)``."""
    parts = voice.split("+") if model.mixes_voices else [voice]
    for part in parts:
        name = _WEIGHT.sub("", part.strip()) if model.mixes_voices else part
        if name not in model.voices:
            listed = ", ".join(model.voices[:6])
            raise InvalidRequest(
                f"Voice {name!r} is not a voice of {model.name} (it has {listed} ...; "
                f"GET /v1/voices lists them all)",
                param="voice",
            )


def _sample_rate(model: SpeechModel, body: dict[str, Any]) -> int:
    if model.sample_rate is not None:  # Orpheus and Kokoro always speak at 24 kHz
        return model.sample_rate
    rate = int(body.get("sample_rate", 44_100))
    if rate not in SAMPLE_RATES:
        listed = ", ".join(map(str, SAMPLE_RATES))
        raise InvalidRequest(
            f"sample_rate must be one of {listed} (got {rate})", param="sample_rate"
        )
    return rate


@router.post("/audio/speech", response_model=None)
@off_loop  # speech is synthesized sample by sample: long input keeps a core busy
def create_speech(tenant: TenantDep, valid: SpecRequestDep) -> Response:
    body = valid.body
    model = speech_model(body["model"])
    if model is None:
        raise unavailable(body["model"])
    text = body["input"]
    if not text.strip():
        raise InvalidRequest("input must not be empty", param="input")
    if len(text) > MAX_INPUT:
        raise InvalidRequest(
            f"input has {len(text)} characters, more than the {MAX_INPUT} allowed", param="input"
        )
    _check_voice(model, body["voice"])
    rate = _sample_rate(model, body)
    # Orpheus and Kokoro always send 16-bit PCM; Cartesia honours response_encoding.
    encoding = "pcm_s16le" if model.sample_rate else body.get("response_encoding", "pcm_f32le")
    samples = speak(text, model=model.name, voice=body["voice"], sample_rate=rate)
    if body.get("stream", False):
        if body.get("response_format", "raw") != "raw":
            raise InvalidRequest(
                "A streamed answer is raw PCM: response_format must be raw when stream is true",
                param="response_format",
            )
        raw = encode(samples, response_format="raw", sample_rate=rate, encoding=encoding)
        chunk = {"object": "audio.tts.chunk", "model": model.name}
        events = [{"data": {**chunk, "b64": piece}} for piece in pcm_chunks(raw)]
        return Response(sse_body([*events, {"data": "[DONE]"}]), media_type=SSE)
    fmt = body.get("response_format", "wav")
    audio = encode(
        samples,
        response_format=fmt,
        sample_rate=rate,
        encoding=encoding,
        bit_rate=int(body.get("bit_rate", 128_000)),
    )
    return Response(audio, media_type=_CONTENT_TYPES[fmt])


async def _transcribe(body: dict[str, Any], task: Task) -> dict[str, Any]:
    from mock_server.spec.validate import (
        FormFile,  # jsonschema: loaded on first use, not at startup
    )

    given = body["file"]
    fields = {k: v for k, v in body.items() if k != "file"}
    request = TranscriptionRequest.model_validate(fields)
    if isinstance(given, FormFile):
        audio = await run_in_threadpool(given.read)
        return transcription_body(request, audio=audio, url=None, task=task)
    return transcription_body(request, audio=None, url=str(given), task=task)


@router.post("/audio/transcriptions", response_model=None)
async def create_transcription(tenant: TenantDep, valid: SpecRequestDep) -> dict[str, Any]:
    return await _transcribe(valid.body, "transcribe")


@router.post("/audio/translations", response_model=None)
async def create_translation(tenant: TenantDep, valid: SpecRequestDep) -> dict[str, Any]:
    return await _transcribe(valid.body, "translate")


@router.get("/voices", response_model=None)
async def list_voices(request: Request, tenant: TenantDep) -> dict[str, Any]:
    """Every speech model's voices, or one model's with ``?model=`` (which the spec's text
    describes, though it declares no parameter)."""
    wanted = request.query_params.get("model")
    models: tuple[SpeechModel, ...] = SPEECH_MODELS
    if wanted is not None:
        found = speech_model(wanted)
        if found is None:
            raise unavailable(wanted, status=400)
        models = (found,)
    return {
        "data": [
            {"model": m.name, "voices": [{"id": v, "name": v} for v in m.voices]} for m in models
        ]
    }
