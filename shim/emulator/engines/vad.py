"""Streaming voice-activity detectors for 16 kHz mono 16-bit PCM: energy and Silero.

:class:`EnergyVad` is good enough to place scripted utterances on the speech in real
recordings: the noise floor is a low percentile of the last few seconds of frame levels
(recordings carry hiss well above digital silence), a 10 ms frame is voiced when it is well
above that floor, a segment opens after a few voiced frames and closes after ``silence_ms``
of unvoiced frames. :class:`SileroVad` runs the Silero VAD model that faster-whisper ships
(``silero_vad_v6.onnx``, no download; the ``local`` extra) on 32 ms frames, carrying the
model's LSTM state from chunk to chunk, with the same segment rules on its speech
probability (faster-whisper's own ``get_speech_timestamps`` only takes whole arrays). Both
give positions as absolute byte offsets into the stream they were fed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from shim.audiotime import BYTES_PER_SECOND

FRAME_BYTES = 320  # 10 ms
FRAME_MS = 10
NOISE_EVERY_FRAMES = 10  # the floor moves slowly: re-estimating it every 100 ms is plenty


@dataclass(frozen=True)
class Segment:
    start: int  # byte offset of the first voiced frame
    end: int  # byte offset just after the last voiced frame


class Vad(Protocol):
    """What the engines need from a voice-activity detector."""

    @property
    def position(self) -> int: ...

    @property
    def open_segment_start(self) -> int | None: ...

    @property
    def last_voiced_end(self) -> int: ...

    def set_silence_ms(self, silence_ms: int) -> None: ...

    def feed(self, pcm: bytes) -> list[Segment]: ...

    def split(self, at: int) -> Segment | None: ...

    def flush(self) -> list[Segment]: ...


class _Segments:
    """What both detectors share: the open segment, the last voiced frame, splitting and
    closing. A segment closes after ``silence_ms`` of unvoiced audio; shorter than
    ``min_speech_ms`` it is dropped."""

    def __init__(self, silence_ms: int, min_speech_ms: int, start: int) -> None:
        self.silence_ms = silence_ms
        self.min_speech_bytes = min_speech_ms * BYTES_PER_SECOND // 1000
        self._position = start  # absolute byte offset, consumed in whole frames
        self._start: int | None = None
        self._last_voiced_end = start
        self._silent_bytes = 0  # unvoiced audio since the last voiced frame of a segment

    @property
    def position(self) -> int:
        return self._position

    @property
    def open_segment_start(self) -> int | None:
        return self._start

    @property
    def last_voiced_end(self) -> int:
        """Byte offset just after the last voiced frame (``position`` minus it: the pause)."""
        return self._last_voiced_end

    def set_silence_ms(self, silence_ms: int) -> None:
        self.silence_ms = silence_ms

    def split(self, at: int) -> Segment | None:
        """Close the open segment at ``at`` and go on with a new one from there.

        For speech without pauses that is longer than a recogniser takes in one piece.
        """
        start = self._start
        if start is None or not start < at <= self._position:
            return None
        self._start = at
        return Segment(start, at)

    def flush(self) -> list[Segment]:
        """End of audio: close an open segment."""
        if self._start is None:
            return []
        segment = self._close(self._last_voiced_end)
        return [segment] if segment else []

    def _voiced(self, frame_end: int) -> None:
        self._last_voiced_end = frame_end
        self._silent_bytes = 0

    def _unvoiced(self, frame_bytes: int) -> Segment | None:
        """An unvoiced frame inside a segment: the segment's end once the silence is long."""
        self._silent_bytes += frame_bytes
        if self._silent_bytes * 1000 >= self.silence_ms * BYTES_PER_SECOND:
            return self._close(self._last_voiced_end)
        return None

    def _close(self, end: int) -> Segment | None:
        start = self._start
        self._start = None
        self._silent_bytes = 0
        if start is None or end - start < self.min_speech_bytes:
            return None
        return Segment(start, end)


class EnergyVad(_Segments):
    def __init__(
        self,
        silence_ms: int = 500,
        min_speech_ms: int = 120,
        start_frames: int = 3,
        margin_db: float = 12.0,
        floor_dbfs: float = -50.0,
        window_frames: int = 300,
        start: int = 0,
    ) -> None:
        super().__init__(max(FRAME_MS, silence_ms), min_speech_ms, start)
        self.start_frames = start_frames
        self.margin_db = margin_db
        self.floor_dbfs = floor_dbfs
        self._levels = np.full(window_frames, np.nan, dtype=np.float32)
        self._level_count = 0
        self._noise: float | None = None  # dBFS, re-estimated every NOISE_EVERY_FRAMES
        self._noise_at = 0
        self._pending = b""
        self._run_voiced = 0

    def set_silence_ms(self, silence_ms: int) -> None:
        super().set_silence_ms(max(FRAME_MS, silence_ms))

    def feed(self, pcm: bytes) -> list[Segment]:
        """Consume audio; return the segments that closed."""
        data = self._pending + pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        if not whole:
            return []
        samples = np.frombuffer(data[:whole], dtype="<i2").astype(np.float32).reshape(-1, 160)
        rms = np.sqrt(np.mean(samples * samples, axis=1)) / 32768.0
        levels = 20.0 * np.log10(np.maximum(rms, 1e-7))
        threshold = self._threshold(levels)
        closed: list[Segment] = []
        for voiced in (levels > threshold).tolist():
            segment = self._frame(voiced)
            if segment is not None:
                closed.append(segment)
        return closed

    def _threshold(self, levels: np.ndarray) -> float:
        """Learn the noise floor from these levels; the voicing threshold for them.

        The floor is a percentile, so it is computed once per fed chunk (numpy, vectorised)
        rather than per 10 ms frame: per-frame percentiles cost ~30 ms of CPU per second of
        audio and saturated a core at about 30 real-time sessions.
        """
        known = levels[levels > -80.0]  # digital silence says nothing about the room's noise
        window = len(self._levels)
        if len(known):
            recent = known[-window:]
            slots = (self._level_count + np.arange(len(recent))) % window
            self._levels[slots] = recent
            self._level_count += len(recent)
        if len(known) >= window:
            self._noise = float(np.percentile(known, 10))  # a long chunk: its own floor
            self._noise_at = self._level_count
        elif self._level_count and (
            self._noise is None or self._level_count - self._noise_at >= NOISE_EVERY_FRAMES
        ):
            filled = self._levels[: min(self._level_count, window)]
            self._noise = float(np.percentile(filled, 10))
            self._noise_at = self._level_count
        noise = self.floor_dbfs - 20.0 if self._noise is None else self._noise
        return max(self.floor_dbfs, noise + self.margin_db)

    def _frame(self, voiced: bool) -> Segment | None:
        frame_start = self._position
        self._position += FRAME_BYTES
        if voiced:
            self._run_voiced += 1
            self._voiced(self._position)
            if self._start is None and self._run_voiced >= self.start_frames:
                self._start = frame_start - (self.start_frames - 1) * FRAME_BYTES
            return None
        self._run_voiced = 0
        if self._start is None:
            return None
        return self._unvoiced(FRAME_BYTES)


SILERO_FRAME = 512  # samples (32 ms): the model's frame
SILERO_CONTEXT = 64  # samples of the previous frame the model sees with each frame
SILERO_FRAME_BYTES = SILERO_FRAME * 2


class SileroVad(_Segments):
    """Silero VAD v6 (bundled with faster-whisper), streamed: a segment opens at a frame whose
    speech probability reaches ``threshold``, stays open while frames stay above
    ``threshold - 0.15`` (faster-whisper's hysteresis) and closes after ``silence_ms`` below.
    Costs about 1.5 ms of CPU per second of audio (one thread)."""

    def __init__(
        self,
        silence_ms: int = 500,
        min_speech_ms: int = 120,
        threshold: float = 0.5,
        start: int = 0,
        model: Any = None,
    ) -> None:
        if model is None:
            from faster_whisper.vad import get_vad_model

            model = get_vad_model()
        super().__init__(silence_ms, min_speech_ms, start)
        self._session = model.session
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(SILERO_CONTEXT, dtype=np.float32)
        self._pending = b""

    def probabilities(self, pcm: bytes) -> np.ndarray:
        """Speech probability of each whole frame of ``pcm`` (after what was fed before)."""
        data = self._pending + pcm
        whole = len(data) - len(data) % SILERO_FRAME_BYTES
        self._pending = data[whole:]
        if not whole:
            return np.zeros(0, dtype=np.float32)
        frames = np.frombuffer(data[:whole], dtype="<i2").astype(np.float32) / 32768.0
        frames = frames.reshape(-1, SILERO_FRAME)
        contexts = np.concatenate([self._context[None, :], frames[:-1, -SILERO_CONTEXT:]])
        self._context = frames[-1, -SILERO_CONTEXT:].copy()
        batch = np.ascontiguousarray(np.concatenate([contexts, frames], axis=1))
        probs, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        return np.asarray(probs, dtype=np.float32).reshape(-1)

    def feed(self, pcm: bytes) -> list[Segment]:
        closed: list[Segment] = []
        for prob in self.probabilities(pcm).tolist():
            segment = self._frame(prob)
            if segment is not None:
                closed.append(segment)
        return closed

    def _frame(self, prob: float) -> Segment | None:
        frame_start = self._position
        self._position += SILERO_FRAME_BYTES
        if self._start is None:
            if prob >= self.threshold:
                self._start = frame_start
                self._voiced(self._position)
            return None
        if prob >= self.neg_threshold:
            self._voiced(self._position)
            return None
        return self._unvoiced(SILERO_FRAME_BYTES)
