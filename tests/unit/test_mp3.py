"""MP3 encoding of TTS segments with pydub and the real ffmpeg (TS4)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from pydub import AudioSegment

from shim.legacy.tts import TtsSegment
from shim.server.mp3 import Mp3EncoderUnavailable, Mp3EncodingError, encode_mp3

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
    # MP3 pads with encoder delay and whole frames (576 samples at 16 kHz): ~0.1 s slack
    assert abs(decoded.duration_seconds - seconds) < 0.1


def test_mp3_keeps_the_signal_TS4() -> None:
    decoded = decode(encode_mp3(tone_wav(1.0)))
    assert decoded.rms > 3_000  # the tone's RMS is 8000/√2 ≈ 5657; silence would be ~0


def test_bitrate_is_honoured_TS4() -> None:
    wav = tone_wav(3.0)
    low, high = encode_mp3(wav, bitrate="16k"), encode_mp3(wav, bitrate="64k")
    assert len(high) > 2 * len(low)


def test_missing_ffmpeg_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(Mp3EncoderUnavailable, match="ffmpeg"):
        encode_mp3(tone_wav(0.2))


def test_input_that_is_not_wav_raises_an_encoding_error() -> None:
    with pytest.raises(Mp3EncodingError, match="MP3 encoding failed"):
        encode_mp3(b"not a wav file" * 100)
