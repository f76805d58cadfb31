"""Where the tests find things: the checkout, the shared data, the shared recordings."""

from __future__ import annotations

import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
AUDIO = SHARED / "audio"


def read_pcm(name: str) -> bytes:
    """The PCM samples of a shared recording (16 kHz mono 16-bit)."""
    with wave.open(str(AUDIO / name)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())
