"""Which recording a stretch of speech comes from: a loudness fingerprint (sans-I/O, numpy).

So that one scenario can script many audio files (issue 17: a test suite's files on one
key), each *recording* of a scenario carries the fingerprint of its first second of speech:
the level, in dB, of every 10 ms window at 5 ms steps from where the voice-activity detector
of :mod:`shim.emulator.engines.vad` hears speech start. A stream's speech segment is that recording
when its own levels from its start (tried a few steps either way, as the detector's start
moves with what came before) differ from the fingerprint by less than
:data:`MATCH_DB` on average where either is above :data:`FLOOR_DB`. Loudness, not bytes:
the same words match after resampling from 44.1 kHz or G.711 companding, whatever came
before them and however the client cut its messages; different words do not.

Memory: a :class:`LevelTrack` keeps a float per 5 ms (800 B a second) from what its owner
still needs (:meth:`LevelTrack.trim`; the scripted engine: the oldest speech segment not yet
matched, which it matches one second in) and one window of samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shim.audiotime import BYTES_PER_SECOND
from shim.emulator.engines.vad import EnergyVad

HOP_BYTES = 160  # 5 ms steps
WINDOW_BYTES = 320  # 10 ms windows
LEVELS = 200  # one second of speech
MIN_LEVELS = 40  # a segment shorter than 200 ms is matched on what it has, if that much
SHIFT_STEPS = 12  # ±60 ms around the detector's start
FLOOR_DB = -55.0  # quieter than this is silence, whatever its level
MATCH_DB = 3.0  # mean level difference of the same audio (measured: < 1.5 dB; other words > 15)


@dataclass(frozen=True)
class Fingerprint:
    speech_ms: int  # where speech starts in the recording
    levels: tuple[int, ...]  # dB of 10 ms windows at 5 ms steps from there (LEVELS of them)


def _levels(pcm: bytes | npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """dB of each 10 ms window at 5 ms steps (the last window may be short of a step)."""
    samples = np.frombuffer(pcm, "<i2") if isinstance(pcm, bytes) else pcm
    hop, window = HOP_BYTES // 2, WINDOW_BYTES // 2
    count = (len(samples) - window) // hop + 1
    if count <= 0:
        return np.zeros(0, np.float32)
    index = np.arange(window)[None, :] + hop * np.arange(count)[:, None]
    frames = samples[index].astype(np.float32) / 32768.0
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    levels: npt.NDArray[np.float32] = (20.0 * np.log10(np.maximum(rms, 1e-6))).astype(np.float32)
    return levels


def speech_start(pcm: bytes) -> int | None:
    """Byte offset where the voice-activity detector hears speech begin, or None."""
    vad = EnergyVad()
    segments = vad.feed(pcm) + vad.flush()
    starts = [s.start for s in segments]
    if vad.open_segment_start is not None:
        starts.append(vad.open_segment_start)
    return min(starts) if starts else None


def fingerprint(pcm: bytes) -> Fingerprint | None:
    """The fingerprint of a recording (16 kHz mono 16-bit PCM), or None without speech."""
    start = speech_start(pcm)
    if start is None:
        return None
    levels = _levels(pcm[start : start + LEVELS * HOP_BYTES + WINDOW_BYTES])[:LEVELS]
    if len(levels) < MIN_LEVELS:
        return None
    rounded = tuple(int(x) for x in np.rint(levels).astype(np.int32).tolist())
    return Fingerprint(start * 1000 // BYTES_PER_SECOND, rounded)


def distance(reference: Sequence[int], levels: npt.NDArray[np.float32]) -> float:
    """Mean dB difference where either is above the floor (inf when too little to compare)."""
    n = min(len(reference), len(levels))
    if n < MIN_LEVELS:
        return float("inf")
    ref = np.maximum(np.asarray(reference[:n], np.float32), FLOOR_DB)
    got = np.maximum(levels[:n], FLOOR_DB)
    loud = (ref > FLOOR_DB) | (got > FLOOR_DB)
    if loud.sum() < MIN_LEVELS // 2:
        return float("inf")
    return float(np.mean(np.abs(ref - got)[loud]))


class LevelTrack:
    """The levels of a stream's recent audio, by absolute byte position (hop-aligned)."""

    def __init__(self, start: int = 0) -> None:
        self._origin = start - start % HOP_BYTES  # position of level 0
        self._levels = np.zeros(0, np.float32)
        self._pending = b""  # samples not yet in a whole window
        self._end = self._origin  # position of the next level to compute

    def feed(self, pcm: bytes, position: int) -> None:
        """``pcm`` starts at absolute byte ``position`` (audio before the track's end is
        ignored: a replay; a gap is silence)."""
        if position > self._end + len(self._pending):
            gap = position - (self._end + len(self._pending))
            self._pending += bytes(gap)
        skip = max(0, self._end + len(self._pending) - position)
        data = self._pending + pcm[skip:]
        levels = _levels(data)
        used = len(levels) * HOP_BYTES
        self._pending = data[used:]
        self._end += used
        self._levels = np.concatenate([self._levels, levels])

    def trim(self, before: int) -> None:
        """Forget the levels of the audio before ``before``."""
        drop = max(0, (before - self._origin) // HOP_BYTES - SHIFT_STEPS)
        if drop:
            self._levels = self._levels[drop:]
            self._origin += drop * HOP_BYTES

    @property
    def end(self) -> int:
        """The position up to which levels are known (their windows may reach past it)."""
        return self._end

    def around(self, start: int, count: int) -> tuple[int, npt.NDArray[np.float32]] | None:
        """Levels from ``SHIFT_STEPS`` steps before ``start`` to ``count`` after the last
        shift, and the position of the first; None if the track no longer has them."""
        first = start - start % HOP_BYTES - SHIFT_STEPS * HOP_BYTES
        if first < self._origin:
            return None
        index = (first - self._origin) // HOP_BYTES
        return first, self._levels[index : index + count + 2 * SHIFT_STEPS]


def ready(track: LevelTrack, start: int) -> bool:
    """Whether a second of the segment starting at ``start`` (and the shifts) is known."""
    return track.end >= start + (LEVELS + SHIFT_STEPS) * HOP_BYTES


def best_match(
    prints: Sequence[Fingerprint], track: LevelTrack, start: int
) -> tuple[int, int] | None:
    """(recording index, the byte where its speech starts in the stream) for the speech
    segment the detector starts at ``start``, or None: no recording sounds like it."""
    window = track.around(start, LEVELS)
    if window is None:
        return None
    first, levels = window
    best: tuple[float, int, int] | None = None
    for index, print_ in enumerate(prints):
        for shift in range(2 * SHIFT_STEPS + 1):
            score = distance(print_.levels, levels[shift:])
            if score < MATCH_DB and (best is None or score < best[0]):
                best = (score, index, first + shift * HOP_BYTES)
    return None if best is None else (best[1], best[2])
