"""MP3 encoding of TTS segments with LAME (lameenc), decoded back with pydub and ffmpeg (TS4)."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from pydub import AudioSegment

from shim.legacy.tts import TtsSegment
from shim.mp3 import Mp3EncodingError, encode_mp3

pytestmark = pytest.mark.unit


def tone_wav(seconds: float) -> bytes:
    """A 16 kHz mono TTS-style WAV holding a 440 Hz tone."""
    t = np.arange(int(16_000 * seconds)) / 16_000
    pcm = (np.sin(2 * np.pi * 440 * t) * 8_000).astype("<i2").tobytes()
    segment = TtsSegment()
    segment.add_chunk(pcm)
    return segment.wav()


def decode(data: bytes) -> AudioSegment:
    return AudioSegment.from_file(io.BytesIO(data), format="mp3")


def is_mp3(data: bytes) -> bool:
    """An ID3v2 tag or an MPEG audio frame sync at the start."""
    return data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


@pytest.mark.parametrize("seconds", [0.5, 1.5, 4.0])
def test_mp3_decodes_back_to_the_same_duration_TS4(seconds: float) -> None:
    encoded = encode_mp3(tone_wav(seconds))
    assert is_mp3(encoded)
    assert b"RIFF" not in encoded[:64]
    decoded = decode(encoded)
    assert decoded.channels == 1
    assert decoded.frame_rate == 16_000
    # A raw LAME stream carries no gapless (Xing/LAME) tag, so the decoder keeps LAME's
    # encoder delay (1105 samples) and the padding to a whole frame (< 576): < 0.11 s at 16 kHz
    assert 0 <= decoded.duration_seconds - seconds < 0.11


def test_mp3_keeps_the_signal_TS4() -> None:
    decoded = decode(encode_mp3(tone_wav(1.0)))
    assert decoded.rms > 3_000  # the tone's RMS is 8000/√2 ≈ 5657; silence would be ~0


def test_bitrate_is_honoured_TS4() -> None:
    wav = tone_wav(3.0)
    low, high = encode_mp3(wav, bitrate="16k"), encode_mp3(wav, bitrate="64k")
    assert len(high) > 2 * len(low)


def test_eight_bit_audio_raises_an_encoding_error() -> None:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(16_000)
        writer.writeframes(bytes(1600))
    with pytest.raises(Mp3EncodingError, match="16-bit"):
        encode_mp3(out.getvalue())


def test_input_that_is_not_wav_raises_an_encoding_error() -> None:
    with pytest.raises(Mp3EncodingError, match="MP3 encoding failed"):
        encode_mp3(b"not a wav file" * 100)
