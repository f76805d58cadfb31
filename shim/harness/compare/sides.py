"""One side of a comparison: a recording read as utterances on a timeline.

Each utterance is a final with its partial count and TTS, placed on the audio timeline by
its TimingInfo offsets when the recording has them, else by when it arrived after the first
audio frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shim.audiotime import TICKS_PER_SECOND
from shim.harness.checks import audiocheck
from shim.harness.recordings.messages import utterances
from shim.harness.recordings.recording import Recording


@dataclass
class SideUtterance:
    index: int
    final: dict[str, Any]
    start: float
    end: float
    arrival: float
    partials: int
    tts: dict[str, Any] | None

    @property
    def recognition(self) -> str:
        return str(self.final.get("recognition", ""))

    @property
    def translation(self) -> str:
        return str(self.final.get("translation", ""))

    @property
    def tts_duration(self) -> float | None:
        return self.tts.get("duration") if self.tts else None

    def snapshot(self) -> dict[str, Any]:
        """The fields compared between sides (before ignores)."""
        return {
            "final": self.final,
            "partials": self.partials,
            "arrival": round(self.arrival, 3),
            "tts": self.tts,
        }


@dataclass
class Side:
    label: str
    source: str
    recording: Recording
    utterances: list[SideUtterance]
    audio_time: bool  # start/end come from TimingInfo

    def snapshot(self) -> dict[str, Any]:
        response = self.recording.response or {}
        close = self.recording.close or {}
        return {
            "handshake": {
                "status": response.get("status"),
                "headers": {str(k).lower(): v for k, v in response.get("headers", [])},
            },
            "close": {
                "code": close.get("code"),
                "reason": close.get("reason"),
                "by": close.get("by"),
            },
        }


def _first_audio_time(recording: Recording) -> float:
    for frame in recording.frames:
        if frame.direction == "out" and frame.is_data:
            return frame.t
    return 0.0


def read_side(label: str, source: str, recording: Recording, *, use_timing: bool = True) -> Side:
    """The utterances of a recording on its audio timeline (seconds): TimingInfo offsets
    if present and ``use_timing``, else arrival times after the first audio frame."""
    origin = _first_audio_time(recording)
    found = []
    for index, utterance in enumerate(utterances(recording)):
        final = utterance.final.document or {}
        arrival = utterance.final.message.t - origin
        offset, size = final.get("audioTimeOffset"), final.get("audioTimeSize")
        if use_timing and isinstance(offset, int) and isinstance(size, int):
            start, end = offset / TICKS_PER_SECOND, (offset + size) / TICKS_PER_SECOND
        else:
            first = utterance.partials[0].message.t - origin if utterance.partials else arrival
            start, end = min(first, arrival), arrival
        tts = None
        if utterance.tts is not None:
            head, size_bytes = utterance.tts.head, utterance.tts.size
            duration = audiocheck.duration_seconds(head, size_bytes)
            tts = {
                "format": "wav"
                if audiocheck.is_wav(head)
                else "mp3"
                if audiocheck.is_mp3(head)
                else "?",
                "size": size_bytes,
                "duration": round(duration, 3) if duration is not None else None,
                "sha256": utterance.tts.sha256,
            }
        found.append(SideUtterance(index, final, start, end, arrival, len(utterance.partials), tts))
    timed = use_timing and bool(found) and all("audioTimeOffset" in u.final for u in found)
    return Side(label, source, recording, found, timed)
