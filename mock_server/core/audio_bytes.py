"""WAV and MP3 containers around audio the simulator made up: one writer for the speech service
(``audio/speech.py``) and for the spec's example bodies (``spec/media.py``), which may import only
``core/``. Both need the same thing: bytes a client's decoder accepts, not sound worth hearing.

* WAV: 16-bit little-endian PCM in a RIFF container, written by the standard library's ``wave``,
  so that ``wave`` (and any other reader) opens it.
* MP3: MPEG-1 Layer III frames, mono, no CRC, with valid headers and silent (zero) bodies, as many
  as the duration needs at 1152 samples a frame: an MP3 encoder is out of scope, and a frame
  parser only needs the headers to find each frame and the count to get the duration.
"""

from __future__ import annotations

import io
import wave

__all__ = ["MP3_BIT_RATES", "MP3_SAMPLE_RATES", "silent_mp3", "wav"]

#: MPEG-1 Layer III sample rates and bit rates, with the index the frame header encodes each by.
MP3_SAMPLE_RATES = {44_100: 0, 48_000: 1, 32_000: 2}
MP3_BIT_RATES = {32_000: 1, 64_000: 5, 96_000: 7, 128_000: 9, 192_000: 11}
_SAMPLES_PER_FRAME = 1152


def wav(pcm16: bytes, *, sample_rate: int) -> bytes:
    """Mono 16-bit little-endian PCM samples as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(sample_rate)
        file.writeframes(pcm16)
    return out.getvalue()


def silent_mp3(seconds: float, *, sample_rate: int = 44_100, bit_rate: int = 128_000) -> bytes:
    """Silent frames lasting about ``seconds`` (at least one frame). A rate MPEG-1 has no header
    value for falls back to 44.1 kHz or 128 kbit/s rather than writing an invalid header."""
    rate = sample_rate if sample_rate in MP3_SAMPLE_RATES else 44_100
    bits = bit_rate if bit_rate in MP3_BIT_RATES else 128_000
    header = bytes([0xFF, 0xFB, MP3_BIT_RATES[bits] << 4 | MP3_SAMPLE_RATES[rate] << 2, 0xC0])
    frame = header + bytes(144 * bits // rate - len(header))  # the header counts in the size
    return frame * max(1, round(seconds * rate / _SAMPLES_PER_FRAME))
