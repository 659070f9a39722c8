"""Audio over HTTP: speech as a real WAV (or MP3, raw PCM, a stream of chunks) whose length
follows the text; transcriptions and translations of an upload or a URL, labelled simulated; the
voices of each speech model."""

from __future__ import annotations

import base64
import io
import json
import wave
from typing import Any

from fastapi.testclient import TestClient

from mock_server.spec.index import operation_index
from mock_server.spec.validate import is_valid
from tests.spec_schemas import assert_is_error_data, assert_matches_spec
from tests.steps import auth

ORPHEUS = "canopylabs/orpheus-3b-0.1-ft"
SENTENCE = "Today is a wonderful day to build something people love!"


def _speech(client: TestClient, text: str = SENTENCE, **fields: Any) -> Any:
    body = {"model": ORPHEUS, "input": text, "voice": "tara", **fields}
    response = client.post("/v1/audio/speech", headers=auth(), json=body)
    assert response.status_code == 200, response.text
    return response


def _seconds(wav_bytes: bytes) -> float:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert wav.getframerate() == 24_000  # Orpheus always speaks at 24 kHz
        return float(wav.getnframes() / wav.getframerate())


def test_speech_is_a_wav_whose_length_follows_the_text(client: TestClient) -> None:
    short, long = _speech(client, "Hi there."), _speech(client, SENTENCE * 3)
    assert short.headers["content-type"] == "audio/wav"
    assert 0.3 < _seconds(short.content) < 1.5
    assert _seconds(long.content) > 8 * _seconds(short.content)
    assert _speech(client, "Hi there.").content == short.content


def test_speech_comes_as_mp3_or_raw_pcm_when_asked(client: TestClient) -> None:
    mp3 = _speech(client, response_format="mp3")
    raw = _speech(client, response_format="raw")
    wav = _speech(client)
    assert (mp3.headers["content-type"], mp3.content[:2]) == ("audio/mpeg", b"\xff\xfb")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.content == wav.content[44:]  # 16-bit PCM: the WAV's frames, without the header


def test_a_stream_is_chunks_of_the_raw_audio_then_done(client: TestClient) -> None:
    streamed = _speech(client, stream=True)
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {(c["object"], c["model"]) for c in chunks} == {("audio.tts.chunk", ORPHEUS)}
    audio = b"".join(base64.b64decode(c["b64"]) for c in chunks)
    assert audio == _speech(client, response_format="raw").content


def test_an_unknown_voice_or_an_empty_input_is_refused_by_name(client: TestClient) -> None:
    for param, fields in {"voice": {"voice": "af_heart"}, "input": {"input": "  "}}.items():
        body = {"model": ORPHEUS, "input": "Hi", "voice": "tara", **fields}
        response = client.post("/v1/audio/speech", headers=auth(), json=body)
        assert (response.status_code, response.json()["error"]["param"]) == (400, param)
        assert_is_error_data(response.json())


def _verbose_is_valid(body: Any, path: str) -> bool:
    """Against the spec as served (the overlay reads its oneOf as anyOf: a verbose answer is a
    valid plain one too, so the spec's oneOf cannot hold)."""
    op = operation_index().by_key("POST", path)
    return is_valid(body, op.success.content["application/json"] or {})


def test_an_uploaded_recording_is_transcribed_with_segments_words_and_speakers(
    client: TestClient,
) -> None:
    recording = _speech(client, SENTENCE * 2).content
    files = {"file": ("call.wav", recording, "audio/wav")}
    plain = client.post("/v1/audio/transcriptions", headers=auth(), files=files)
    assert plain.status_code == 200, plain.text
    assert_matches_spec(plain.json(), "POST", "/audio/transcriptions")
    seconds = round(_seconds(recording), 3)  # the duration as the transcript reports it
    assert plain.json()["text"].startswith(f"Simulated transcript of {seconds:.1f} seconds")
    form = {"response_format": "verbose_json", "timestamp_granularities": "word", "diarize": "true"}
    verbose = client.post("/v1/audio/transcriptions", headers=auth(), files=files, data=form)
    body = verbose.json()
    assert _verbose_is_valid(body, "/audio/transcriptions")
    assert (body["task"], body["language"], body["duration"]) == ("transcribe", "english", seconds)
    assert body["text"] == plain.json()["text"]
    assert body["words"][-1]["end"] == seconds
    assert {s["speaker_id"] for s in body["speaker_segments"]} == {"SPEAKER_00", "SPEAKER_01"}


def test_a_translation_of_a_url_names_its_target_language(client: TestClient) -> None:
    form = {"file": (None, "https://example.com/interview.mp3"), "language": (None, "es")}
    response = client.post("/v1/audio/translations", headers=auth(), files=form)
    assert response.status_code == 200, response.text
    assert_matches_spec(response.json(), "POST", "/audio/translations")
    assert response.json()["text"].startswith("Simulated translation into spanish of")
    not_a_url = {"file": (None, "interview.mp3")}
    refused = client.post("/v1/audio/translations", headers=auth(), files=not_a_url)
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "file")


def test_voices_are_listed_per_model(client: TestClient) -> None:
    listed = client.get("/v1/voices", headers=auth())
    assert_matches_spec(listed.json(), "GET", "/voices")
    voices = {m["model"]: [v["name"] for v in m["voices"]] for m in listed.json()["data"]}
    assert "tara" in voices[ORPHEUS] and "af_alloy" in voices["hexgrad/Kokoro-82M"]
    assert "friendly sidekick" in voices["cartesia/sonic"]
    one = client.get("/v1/voices", headers=auth(), params={"model": ORPHEUS}).json()["data"]
    assert [m["model"] for m in one] == [ORPHEUS]
