"""The local engine's per-session audio and its decodes, shared by the session's streams.

A session (one ``X-ConnectionId``) outlives its connections: the SDK reconnects and replays
unacknowledged audio, so the audio, the voice-activity segments and the decodes already made
are kept here, and a new stream of the same session picks them up without decoding again.
Bounds: the audio since the oldest segment not yet decoded (at most ``MAX_SEGMENT`` of open
speech plus what finals still need), ``MAX_DECODES_KEPT`` decodes, ``MAX_SEGMENTS_KEPT``
segments.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from shim.audiotime import BYTES_PER_SECOND
from shim.emulator.engines.asr import DecodeJob, Transcript
from shim.emulator.engines.mt import Route
from shim.emulator.engines.vad import FRAME_BYTES, Vad

PRE_ROLL = BYTES_PER_SECOND // 5  # audio before the first voiced frame handed to Whisper
POST_ROLL = BYTES_PER_SECOND * 3 // 10  # and after the last one (soft word endings)
MAX_SEGMENT = BYTES_PER_SECOND * 25  # split longer speech: Whisper's window is 30 s
SPLIT_SEARCH = BYTES_PER_SECOND * 3  # ...at the quietest frame of its last 3 s
MAX_DECODES_KEPT = 4  # per session: a final may want the very audio a partial decoded
MAX_SEGMENTS_KEPT = 64


@dataclass(frozen=True)
class Plan:
    kind: str  # "identity", "whisper" (speech->English) or "text"
    route: Route | None = None


@dataclass(frozen=True)
class DecodeKey:
    """A final's decode: the same key is decoded once (a final joins its speculative decode)."""

    start: int
    end: int
    language: str
    translate: bool
    hotwords: str | None


@dataclass
class SpeechSegment:
    start: int
    end: int
    transcript: Transcript | None = None


@dataclass(eq=False)
class SessionAudio:
    vad: Vad
    origin: int  # absolute byte offset of audio[0]
    analysed: int  # absolute bytes of the session's audio seen
    audio: bytearray = field(default_factory=bytearray)
    segments: list[SpeechSegment] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    decodes: OrderedDict[DecodeKey, Transcript] = field(default_factory=OrderedDict)
    running: dict[DecodeKey, asyncio.Future[Transcript]] = field(default_factory=dict)
    jobs: dict[DecodeKey, DecodeJob] = field(default_factory=dict)  # of the running decodes

    def append(self, fresh: bytes) -> None:
        self.audio += fresh
        closed = self.vad.feed(fresh)
        self.analysed += len(fresh)
        open_start = self.vad.open_segment_start
        if open_start is not None and self.vad.position - open_start > MAX_SEGMENT:
            piece = self.vad.split(self._quietest_frame(self.vad.position - SPLIT_SEARCH))
            closed += [piece] if piece else []
        self.segments += [SpeechSegment(s.start, s.end) for s in closed]

    def _quietest_frame(self, start: int) -> int:
        start -= (start - self.origin) % FRAME_BYTES
        pcm = self.pcm(start, self.vad.position)
        frames = len(pcm) // FRAME_BYTES
        if frames < 2:
            return self.vad.position
        samples = np.frombuffer(pcm[: frames * FRAME_BYTES], dtype="<i2").astype(np.float32)
        energy = np.mean(samples.reshape(frames, -1) ** 2, axis=1)
        return start + int(np.argmin(energy[1:]) + 1) * FRAME_BYTES

    def pcm(self, start: int, end: int) -> bytes:
        start = max(start, self.origin)
        end = min(end, self.origin + len(self.audio))
        return bytes(self.audio[start - self.origin : end - self.origin]) if end > start else b""

    def window(self, start: int, end: int) -> tuple[int, int]:
        """The audio Whisper gets for speech from ``start`` to ``end``: a little either side."""
        return max(start - PRE_ROLL, 0), min(end + POST_ROLL, self.analysed)

    def settle(self, key: DecodeKey, future: asyncio.Future[Transcript]) -> None:
        """A decode ended: keep its result (a final may want the very same audio)."""
        if self.running.get(key) is future:
            del self.running[key]
            self.jobs.pop(key, None)
        if not future.cancelled() and future.exception() is None:
            self.decodes[key] = future.result()
            while len(self.decodes) > MAX_DECODES_KEPT:
                self.decodes.popitem(last=False)

    def trim(self) -> None:
        """Drop audio nothing will decode again (finals are cached, replays need no audio)."""
        keep = self.analysed
        if self.vad.open_segment_start is not None:
            keep = min(keep, self.vad.open_segment_start)
        undecoded = [s.start for s in self.segments if s.transcript is None]
        keep = min([keep, *undecoded]) - PRE_ROLL
        if keep > self.origin:
            del self.audio[: keep - self.origin]
            self.origin = keep
        if len(self.segments) > MAX_SEGMENTS_KEPT:
            del self.segments[:-MAX_SEGMENTS_KEPT]
