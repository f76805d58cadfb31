"""Two sessions side by side: utterances paired, texts diffed, fields compared.

Utterances are paired on the audio timeline when both sides have TimingInfo, else by order
and text similarity and shown on the arrival timeline (:mod:`.align`). Field differences
skip declared ignore paths and treat timing within a tolerance as jitter, as LocalStack
snapshot matching does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shim.audiotime import BYTES_PER_SECOND, TICKS_PER_SECOND
from shim.harness.compare.align import align_by_text, align_by_time
from shim.harness.compare.jsonpaths import IgnoreList, flatten
from shim.harness.compare.sides import Side, SideUtterance, read_side
from shim.harness.compare.textdiff import TextDiff, diff
from shim.harness.compare.textdiff import wer as word_error_rate

DEFAULT_IGNORES = (
    "$.handshake.headers",  # X-RequestId, Date, Sec-WebSocket-Accept, Server
    "$..id",  # result ids shift when one side has an extra utterance
    "$.utterances[*].partials",  # how many hypotheses a recognizer sends varies
    "$.utterances[*].arrival",  # wall-clock latency: shown, not compared
    "$.utterances[*].tts.sha256",  # synthesis bytes differ between backends and runs
    "$.utterances[*].tts.size",  # follows the duration, which is compared
    "$.close.reason",
)
"""What differs between two healthy sessions on the same audio."""

# Fields compared with the timing tolerance, with their unit per second.
TOLERANT_UNITS = {
    "audioTimeOffset": TICKS_PER_SECOND,
    "audioTimeSize": TICKS_PER_SECOND,
    "audioStreamPosition": BYTES_PER_SECOND,
    "audioSizeBytes": BYTES_PER_SECOND,
    "duration": 1,
}


@dataclass(frozen=True)
class FieldDifference:
    path: str
    a: Any
    b: Any


@dataclass
class Pair:
    a: SideUtterance | None
    b: SideUtterance | None
    recognition: TextDiff
    translation: TextDiff
    differences: list[FieldDifference] = field(default_factory=list)

    @property
    def start_delta(self) -> float | None:
        return self.b.start - self.a.start if self.a and self.b else None

    @property
    def arrival_delta(self) -> float | None:
        return self.b.arrival - self.a.arrival if self.a and self.b else None


@dataclass
class Comparison:
    a: Side
    b: Side
    pairs: list[Pair]
    differences: list[FieldDifference]  # every difference, pairs' included, in order
    ignores: list[str]
    tolerance: float
    audio_time: bool  # paired on the audio timeline; else by order and text, on arrival times

    def _wer(self, attribute: str) -> float:
        reference = sum(getattr(p, attribute).reference_words for p in self.pairs)
        found = sum(getattr(p, attribute).errors for p in self.pairs)
        return word_error_rate(reference, found)

    @property
    def recognition_wer(self) -> float:
        return self._wer("recognition")

    @property
    def translation_wer(self) -> float:
        return self._wer("translation")

    @property
    def identical(self) -> bool:
        return not self.differences


def _differ(path: str, a: Any, b: Any, tolerance: float) -> bool:
    name = path.rsplit(".", 1)[-1]
    number = (int, float)
    if name in TOLERANT_UNITS and isinstance(a, number) and isinstance(b, number):
        return abs(a - b) > tolerance * TOLERANT_UNITS[name]
    return bool(a != b)


def _field_differences(
    a: Any, b: Any, prefix: str, ignore: IgnoreList, tolerance: float
) -> list[FieldDifference]:
    left, right = flatten(a, prefix), flatten(b, prefix)
    found = []
    for path in sorted(set(left) | set(right), key=lambda p: (p not in left, p)):
        if ignore.ignored(path):
            continue
        va, vb = left.get(path), right.get(path)
        if _differ(path, va, vb, tolerance):
            found.append(FieldDifference(path, va, vb))
    return found


def compare(
    a: Side, b: Side, *, ignores: Sequence[str] = DEFAULT_IGNORES, tolerance_ms: float = 250.0
) -> Comparison:
    """Pair the utterances of ``a`` (the reference) and ``b`` and list their differences."""
    tolerance = tolerance_ms / 1000
    ignore = IgnoreList(ignores)
    audio_time = a.audio_time and b.audio_time
    if audio_time:
        aligned = align_by_time(a.utterances, b.utterances, max(tolerance, 0.5))
    else:  # one side without TimingInfo: both on the arrival timeline, paired by text
        a = read_side(a.label, a.source, a.recording, use_timing=False)
        b = read_side(b.label, b.source, b.recording, use_timing=False)
        aligned = align_by_text(a.utterances, b.utterances)
    differences = _field_differences(a.snapshot(), b.snapshot(), "$", ignore, tolerance)
    pairs = []
    for index, (ua, ub) in enumerate(aligned):
        pair = Pair(
            ua,
            ub,
            diff(ua.recognition if ua else "", ub.recognition if ub else ""),
            diff(ua.translation if ua else "", ub.translation if ub else ""),
        )
        prefix = f"$.utterances[{index}]"
        if ua is not None and ub is not None:
            pair.differences = _field_differences(
                ua.snapshot(), ub.snapshot(), prefix, ignore, tolerance
            )
        elif not ignore.ignored(prefix):
            pair.differences = [
                FieldDifference(
                    prefix, ua.recognition if ua else None, ub.recognition if ub else None
                )
            ]
        differences.extend(pair.differences)
        pairs.append(pair)
    return Comparison(a, b, pairs, differences, list(ignores), tolerance, audio_time)
