"""Legacy result messages: ids, timing and the JSON text of ``partial`` and ``final``.

The JSON mirrors the recorded service output (spec §3.1): compact, keys in the order
``type, id, recognition, translation`` and then, with ``TimingInfo``, the documented order
``audioStreamPosition, audioSizeBytes, audioTimeOffset, audioTimeSize``; non-ASCII text raw.
The contract is ``contracts/legacy-result.schema.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from shim.audiotime import BYTES_PER_SAMPLE, BYTES_PER_SECOND, TICKS_PER_SAMPLE, TICKS_PER_SECOND

ResultKind = Literal["partial", "final"]

_ID_PATTERN: dict[ResultKind, re.Pattern[str]] = {
    "final": re.compile(r"[0-9]+"),
    "partial": re.compile(r"[0-9]+\.[0-9]+"),
}


class ResultNumbering:
    """Ids of one session (RS3, RS4): partials ``N.1``, ``N.2``, … then final ``N``; N from 0."""

    def __init__(self) -> None:
        self._final = 0
        self._partial = 0

    @property
    def next_final(self) -> int:
        """The id the coming final will have."""
        return self._final

    def partial_id(self) -> str:
        self._partial += 1
        return f"{self._final}.{self._partial}"

    def final_id(self) -> str:
        final = str(self._final)
        self._final += 1
        self._partial = 0
        return final


@dataclass(frozen=True)
class Timing:
    """Where a result lies in the session's audio (RS7), in ticks and in PCM bytes.

    Ticks are snapped to whole 16 kHz samples (625 ticks = 1 sample = 2 bytes), so
    ``bytes = ticks × 32000 / 10^7`` holds exactly for both pairs.
    """

    audio_stream_position: int  # bytes
    audio_size_bytes: int
    audio_time_offset: int  # ticks
    audio_time_size: int

    def __post_init__(self) -> None:
        for ticks, size in (
            (self.audio_time_offset, self.audio_stream_position),
            (self.audio_time_size, self.audio_size_bytes),
        ):
            if (
                ticks < 0
                or ticks % TICKS_PER_SAMPLE
                or size * TICKS_PER_SECOND != ticks * BYTES_PER_SECOND
            ):
                raise ValueError(f"inconsistent timing: {ticks} ticks vs {size} bytes")

    @classmethod
    def from_ticks(cls, offset: int, duration: int) -> Timing:
        """From SDK ``offset``/``duration`` ticks, measured from the start of the session's
        audio. Start and end are snapped, so offset + size still ends where the SDK said
        (the WPF client's batch mode paces itself on that end)."""
        start = _to_samples(offset)
        end = max(start, _to_samples(offset + max(0, duration)))
        return cls(
            audio_stream_position=start * BYTES_PER_SAMPLE,
            audio_size_bytes=(end - start) * BYTES_PER_SAMPLE,
            audio_time_offset=start * TICKS_PER_SAMPLE,
            audio_time_size=(end - start) * TICKS_PER_SAMPLE,
        )


def _to_samples(ticks: int) -> int:
    """Nearest whole sample, halves rounded up; negative ticks clamp to 0."""
    return max(0, (ticks + TICKS_PER_SAMPLE // 2) // TICKS_PER_SAMPLE)


def encode_result(
    kind: ResultKind,
    id: str,  # the legacy field name, shadowing the builtin on purpose
    recognition: str,
    translation: str,
    timing: Timing | None = None,
) -> str:
    """The text of one result message (RS1, RS2, RS6, RS7)."""
    pattern = _ID_PATTERN.get(kind)
    if pattern is None:
        raise ValueError(f"unknown result type {kind!r}; only partial and final exist")
    if not pattern.fullmatch(id):
        raise ValueError(f"id {id!r} does not fit a {kind} result")
    message: dict[str, str | int] = {
        "type": kind,
        "id": id,
        "recognition": recognition,
        "translation": translation,
    }
    if timing is not None:
        message["audioStreamPosition"] = timing.audio_stream_position
        message["audioSizeBytes"] = timing.audio_size_bytes
        message["audioTimeOffset"] = timing.audio_time_offset
        message["audioTimeSize"] = timing.audio_time_size
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
