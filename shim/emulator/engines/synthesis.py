"""Speech for the local Speech service's engines: espeak-ng (:mod:`shim.espeak`) when
installed, else a deterministic tone pattern.

Either way the result is real 16 kHz mono 16-bit PCM of a plausible length, with word
boundaries, so clients and the shim handle audio exactly as they would real TTS.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import wave
import zlib
from pathlib import Path

import numpy as np
import soxr

from shim import espeak as espeak_ng
from shim.audiotime import SAMPLE_RATE, TICKS_PER_SECOND
from shim.emulator.engines.base import Synthesis, WordBoundary

log = logging.getLogger(__name__)
RATE = SAMPLE_RATE


def _ticks(samples: int) -> int:
    return samples * TICKS_PER_SECOND // RATE


def tone_pattern(text: str) -> Synthesis:
    """One tone burst per word (pitch from a checksum of the word), silences between."""
    words = text.split() or ["…"]
    lead = np.zeros(RATE // 5, dtype=np.float32)
    parts = [lead]
    boundaries = []
    position = len(lead)
    for word in words:
        length = int(RATE * min(0.45, max(0.12, 0.06 * len(word))))
        frequency = 220 + zlib.crc32(word.encode()) % 440
        t = np.arange(length, dtype=np.float32) / RATE
        burst = 0.3 * np.sin(2 * math.pi * frequency * t)
        fade = min(160, length // 4)
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        burst[:fade] *= ramp
        burst[-fade:] *= ramp[::-1]
        boundaries.append(WordBoundary(_ticks(position), _ticks(length), word))
        gap = np.zeros(RATE * 8 // 100, dtype=np.float32)
        parts += [burst.astype(np.float32), gap]
        position += length + len(gap)
    parts.append(lead)
    pcm = (np.concatenate(parts) * 32767).astype("<i2").tobytes()
    return Synthesis(pcm, tuple(boundaries))


def distribute_words(text: str, samples: int) -> tuple[WordBoundary, ...]:
    """espeak gives no timings on stdout: spread words over the audio by length."""
    words = text.split()
    total = sum(len(w) + 1 for w in words) or 1
    boundaries, position = [], 0
    for word in words:
        length = samples * (len(word) + 1) // total
        boundaries.append(WordBoundary(_ticks(position), _ticks(length), word))
        position += length
    return tuple(boundaries)


async def espeak(text: str, language: str) -> Synthesis | None:
    """``text`` spoken by espeak-ng in the language's own voice; None when it cannot."""
    if not text.strip():
        return None
    try:
        pcm = _pcm16k(await espeak_ng.speak_async(text, language))
    except (espeak_ng.EspeakError, wave.Error, EOFError):
        return None
    return Synthesis(pcm, distribute_words(text, len(pcm) // 2))


def _pcm16k(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype("<i2")
    if rate != RATE:
        samples = soxr.resample(samples, rate, RATE)
    return np.asarray(samples, dtype="<i2").tobytes()


async def from_wav_file(path: Path, text: str) -> Synthesis:
    """Recorded speech (``serve --record-backend``) played back as this text's synthesis."""
    data = await asyncio.to_thread(path.read_bytes)
    pcm = _pcm16k(data)
    return Synthesis(pcm, distribute_words(text, len(pcm) // 2))


async def synthesize(text: str, language: str, engine: str = "auto") -> Synthesis:
    if engine in ("auto", "espeak"):
        result = await espeak(text, language)
        if result is not None:
            return result
        if engine == "espeak":
            log.warning("espeak-ng unavailable for %s; using the tone pattern", language)
    return tone_pattern(text)
