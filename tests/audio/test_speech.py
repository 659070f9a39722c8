"""Synthesized speech is real audio whose length follows the text, in each format the spec names;
transcripts are labelled, deterministic and timed over the audio's duration."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from mock_server.audio.speech import (
    SECONDS_PER_CHARACTER,
    audio_duration,
    encode,
    pcm_chunks,
    speak,
    transcribe,
)

SHORT = "Hello there."
LONG = "Hello there. " * 10


def _samples(text: str, rate: int = 24_000):  # type: ignore[no-untyped-def]
    return speak(text, model="hexgrad/Kokoro-82M", voice="af_heart", sample_rate=rate)


def test_a_wav_opens_with_wave_and_lasts_about_as_long_as_reading_the_text() -> None:
    data = encode(_samples(LONG), response_format="wav", sample_rate=24_000)
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24_000)
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds == pytest.approx(len(LONG) * SECONDS_PER_CHARACTER, rel=0.15)
    assert audio_duration(data) == pytest.approx(seconds, abs=1e-3)


def test_longer_text_gives_longer_audio_and_the_same_text_the_same_bytes() -> None:
    short, long = (
        encode(_samples(t), response_format="wav", sample_rate=24_000) for t in (SHORT, LONG)
    )
    assert audio_duration(long) > 5 * audio_duration(short)
    assert short == encode(_samples(SHORT), response_format="wav", sample_rate=24_000)
    assert max(abs(s) for s in struct.unpack(f"<{(len(short) - 44) // 2}h", short[44:])) > 1000


def test_raw_pcm_has_the_size_of_its_encoding() -> None:
    samples = _samples(SHORT, rate=44_100)
    sizes = {
        encoding: len(encode(samples, response_format="raw", sample_rate=44_100, encoding=encoding))
        for encoding in ("pcm_f32le", "pcm_s16le", "pcm_mulaw", "pcm_alaw")
    }
    assert sizes == {
        "pcm_f32le": 4 * len(samples),
        "pcm_s16le": 2 * len(samples),
        "pcm_mulaw": len(samples),
        "pcm_alaw": len(samples),
    }


@pytest.mark.parametrize(
    ("value", "mulaw", "alaw"),
    # G.711 reference values: silence, the extremes, and +-1000
    [
        (0, 0xFF, 0xD5),
        (32767, 0x80, 0xAA),
        (-32768, 0x00, 0x2A),
        (1000, 0xCE, 0xFA),
        (-1000, 0x4E, 0x7A),
    ],
)
def test_mu_law_and_a_law_follow_g711(value: int, mulaw: int, alaw: int) -> None:
    import numpy as np

    sample = np.array([value / 32767], dtype=np.float32)
    if value == -32768:
        sample = np.array([-1.0001], dtype=np.float32)  # clipped to -32767, the same code
    encoded = [
        encode(sample, response_format="raw", sample_rate=8_000, encoding=e)[0]
        for e in ("pcm_mulaw", "pcm_alaw")
    ]
    assert encoded == [mulaw, alaw]


def test_an_mp3_is_mpeg_frames_whose_count_follows_the_duration() -> None:
    samples = _samples(LONG, rate=44_100)
    data = encode(samples, response_format="mp3", sample_rate=44_100, bit_rate=128_000)
    frame = 144 * 128_000 // 44_100
    assert len(data) % frame == 0
    frames = [data[i : i + 4] for i in range(0, len(data), frame)]
    assert all(header == b"\xff\xfb\x90\xc0" for header in frames)  # MPEG-1 L3 128k 44.1k mono
    assert len(frames) == round(len(samples) / 1152)


@pytest.mark.parametrize(
    ("asked", "header", "written"),
    [
        ((48_000, 64_000), b"\xff\xfb\x54\xc0", (48_000, 64_000)),  # both have a header value
        ((24_000, 100_000), b"\xff\xfb\x90\xc0", (44_100, 128_000)),  # neither: 44.1k, 128k
    ],
)
def test_an_mp3_header_names_the_rates_or_falls_back_to_valid_ones(
    asked: tuple[int, int], header: bytes, written: tuple[int, int]
) -> None:
    (rate, bit_rate), (frame_rate, frame_bits) = asked, written
    samples = _samples(LONG, rate=rate)
    data = encode(samples, response_format="mp3", sample_rate=rate, bit_rate=bit_rate)
    frame = 144 * frame_bits // frame_rate
    assert len(data) % frame == 0
    assert {data[i : i + 4] for i in range(0, len(data), frame)} == {header}
    assert len(data) // frame == round(len(samples) / rate * frame_rate / 1152)


def test_streamed_chunks_reassemble_to_the_audio() -> None:
    import base64

    raw = encode(_samples(LONG), response_format="raw", sample_rate=24_000)
    chunks = pcm_chunks(raw, chunk_bytes=1000)
    assert len(chunks) == -(-len(raw) // 1000)
    assert b"".join(base64.b64decode(c) for c in chunks) == raw


def test_a_transcript_is_labelled_simulated_deterministic_and_spread_over_the_audio() -> None:
    audio = encode(_samples(LONG), response_format="wav", sample_rate=24_000)
    first = transcribe(audio, model="openai/whisper-large-v3", language="en", task="transcribe")
    assert first == transcribe(
        audio, model="openai/whisper-large-v3", language="en", task="transcribe"
    )
    assert first.text.startswith(f"Simulated transcript of {audio_duration(audio):.1f} seconds")
    assert first.language == "english"
    verbose = first.verbose(granularities={"word"}, speakers=2)
    assert verbose["words"][-1]["end"] == pytest.approx(audio_duration(audio), abs=1e-3)
    assert " ".join(s["text"] for s in verbose["segments"]) + "." == first.text
    speakers = [s["speaker_id"] for s in verbose["speaker_segments"]]
    assert len(speakers) >= 2
    assert speakers == [f"SPEAKER_{i % 2:02d}" for i in range(len(speakers))]  # taking turns


def test_a_translation_names_its_target_language() -> None:
    translated = transcribe(
        b"RIFF", model="openai/whisper-large-v3", language="fr", task="translate"
    )
    assert translated.text.startswith("Simulated translation into french of")
    assert (translated.task, translated.language) == ("translate", "french")
