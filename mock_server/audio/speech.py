"""Text-to-speech audio and speech-to-text transcripts, synthesized deterministically.

Speech is a tone per word (its pitch drawn from the word, its length from the word's length, a
short pause after each), so the audio lasts about as long as reading the text aloud would (15
characters a second) and the same text, model and voice always give the same bytes. It is
encoded in the format asked: a WAV that ``wave`` opens, raw PCM in the four encodings the spec
names (float32, int16, G.711 mu-law and A-law), or MPEG-1 Layer III frames with valid headers
(silent: an MP3 encoder is out of scope) whose count matches the duration. The WAV and MP3
containers are ``core/audio_bytes.py``'s, which the spec's example bodies use too.

A transcript reads ``Simulated transcript of N.N seconds of audio: ...`` followed by words
drawn from the audio's bytes, about 2.5 words a second, so no one mistakes it for a real one;
``verbose_json`` adds segments, words and speaker turns with times spread over the duration.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import wave
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_server.core.audio_bytes import silent_mp3, wav
from mock_server.core.ids import stable_int

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "SECONDS_PER_CHARACTER",
    "Transcript",
    "audio_duration",
    "encode",
    "pcm_chunks",
    "speak",
    "transcribe",
]

SECONDS_PER_CHARACTER = 1 / 15  # reading pace: ~150 words a minute
_PAUSE = 0.08  # seconds of silence after each word
_SEGMENT_WORDS = 12
_LANGUAGES = dict(
    pair.split(":")
    for pair in (
        "en:english de:german fr:french es:spanish it:italian ja:japanese ko:korean nl:dutch "
        "pl:polish pt:portuguese ru:russian sv:swedish tr:turkish zh:chinese hi:hindi"
    ).split()
)


def speak(text: str, *, model: str, voice: str, sample_rate: int) -> NDArray[np.float32]:
    """Mono samples in [-1, 1] at ``sample_rate``: a tone per word, a pause after each."""
    import numpy as np

    pieces = []
    base = 110 + stable_int(model, voice) % 110  # the voice's own register, 110-220 Hz
    silence = np.zeros(int(_PAUSE * sample_rate), dtype=np.float32)
    for word in text.split() or [""]:
        seconds = max(len(word) + 1, 2) * SECONDS_PER_CHARACTER - _PAUSE
        t = np.arange(int(seconds * sample_rate), dtype=np.float32) / sample_rate
        pitch = base * (1 + (stable_int(word.lower()) % 12) / 12)
        envelope = np.minimum(1.0, np.minimum(t, t[::-1]) * 50)  # 20 ms fade in and out
        pieces += [(0.3 * envelope * np.sin(2 * np.pi * pitch * t)).astype(np.float32), silence]
    return np.concatenate(pieces)


def _int16(samples: NDArray[np.float32]) -> NDArray[np.int16]:
    import numpy as np

    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")


# G.711 as the reference coder (Sun's g711.c, which Python's audioop used) does it: the segment
# is the first of these upper bounds the magnitude does not exceed.
_MU_SEGMENTS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_A_SEGMENTS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _mulaw(pcm: NDArray[np.int16]) -> bytes:
    import numpy as np

    x = pcm.astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), 8159) + 33
    segment = np.searchsorted(_MU_SEGMENTS, magnitude)
    value = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def _alaw(pcm: NDArray[np.int16]) -> bytes:
    import numpy as np

    x = pcm.astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(_A_SEGMENTS, magnitude)
    step = np.where(segment < 2, magnitude >> 1, magnitude >> np.maximum(segment, 1)) & 0x0F
    value = np.where(segment >= 8, 0x7F, (segment << 4) | step)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def _raw(samples: NDArray[np.float32], encoding: str) -> bytes:
    if encoding == "pcm_f32le":
        return samples.astype("<f4").tobytes()
    pcm = _int16(samples)
    if encoding == "pcm_mulaw":
        return _mulaw(pcm)
    if encoding == "pcm_alaw":
        return _alaw(pcm)
    return pcm.tobytes()  # pcm_s16le


def encode(
    samples: NDArray[np.float32],
    *,
    response_format: str,
    sample_rate: int,
    encoding: str = "pcm_s16le",
    bit_rate: int = 128_000,
) -> bytes:
    """The samples as ``wav``, ``mp3`` or ``raw`` PCM in ``encoding``."""
    if response_format == "wav":
        return wav(_int16(samples).tobytes(), sample_rate=sample_rate)
    if response_format == "mp3":
        return silent_mp3(len(samples) / sample_rate, sample_rate=sample_rate, bit_rate=bit_rate)
    return _raw(samples, encoding)


def pcm_chunks(raw: bytes, *, chunk_bytes: int = 9600) -> list[str]:
    """Raw audio in base64 pieces, as the stream's ``audio.tts.chunk`` events carry it."""
    return [
        base64.b64encode(raw[i : i + chunk_bytes]).decode()
        for i in range(0, max(len(raw), 1), chunk_bytes)
    ]


# -- transcription --------------------------------------------------------------------------------


def audio_duration(data: bytes) -> float:
    """Seconds of audio in an upload: a WAV's own frame count, else the size at 128 kbit/s."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data)) as upload:
                return round(float(upload.getnframes()) / float(upload.getframerate()), 3)
        except (wave.Error, EOFError, ZeroDivisionError, struct.error):
            pass
    return round(max(len(data), 1) * 8 / 128_000, 3)


_WORDS = (
    "this is simulated speech from together sim no audio was actually recognised the words "
    "are drawn from the bytes of the upload so the same audio always reads the same way"
).split()


@dataclass(frozen=True)
class Transcript:
    task: str  # "transcribe" or "translate"
    language: str
    duration: float
    text: str
    words: tuple[tuple[str, float, float], ...]  # (word, start, end)

    def segments(self) -> list[dict[str, Any]]:
        out = []
        for n, i in enumerate(range(0, len(self.words), _SEGMENT_WORDS)):
            chunk = self.words[i : i + _SEGMENT_WORDS]
            text = " ".join(w for w, _, _ in chunk)
            out.append({"id": n, "start": chunk[0][1], "end": chunk[-1][2], "text": text})
        return out

    def verbose(self, *, granularities: set[str], speakers: int | None) -> dict[str, Any]:
        """``verbose_json``: segments always (the spec requires them), words when asked, and
        with ``speakers`` (diarization) a speaker per segment, taking turns."""
        body: dict[str, Any] = {
            "task": self.task,
            "language": self.language,
            "duration": self.duration,
            "text": self.text,
            "segments": self.segments(),
        }
        words = [{"word": w, "start": s, "end": e} for w, s, e in self.words]
        if speakers:
            speaker_segments = []
            for segment in body["segments"]:
                speaker = f"SPEAKER_{segment['id'] % speakers:02d}"
                first = segment["id"] * _SEGMENT_WORDS
                own = words[first : first + _SEGMENT_WORDS]
                for word in own:
                    word["speaker_id"] = speaker
                speaker_segments.append({**segment, "speaker_id": speaker, "words": own})
            body["speaker_segments"] = speaker_segments
        if "word" in granularities or speakers:
            body["words"] = words
        return body


def transcribe(
    audio: bytes, *, model: str, language: str, task: str, duration: float | None = None
) -> Transcript:
    """A labelled stand-in transcript of ``audio`` (or of a URL's text, which is not fetched)."""
    seconds = audio_duration(audio) if duration is None else duration
    named = _LANGUAGES.get(language.lower(), language) if language != "auto" else "english"
    doing = "transcript" if task == "transcribe" else f"translation into {named}"
    head = f"Simulated {doing} of {seconds:.1f} seconds of audio:"
    rng = random.Random(stable_int(model, task, language, audio))
    count = max(1, round(seconds * 2.5))
    words = [*head.split(), *(rng.choice(_WORDS) for _ in range(count))]
    step = max(seconds, 0.1) / len(words)
    timed = tuple(
        (word, round(i * step, 3), round((i + 1) * step, 3)) for i, word in enumerate(words)
    )
    return Transcript(task, named, seconds, " ".join(words) + ".", timed)
