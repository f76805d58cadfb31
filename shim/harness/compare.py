"""Two sessions side by side: utterances aligned by time, texts diffed, fields compared.

Each side is read from a recording into utterances (final, partial count, TTS) placed on
the audio timeline: TimingInfo offsets when both sides have them, else the time the final
arrived after the first audio frame. Utterances are paired by an order-keeping alignment
that maximises their overlap, so an extra or missing utterance on one side shows as a gap
instead of shifting every later pair. Field differences skip declared ignore paths and
treat timing within a tolerance as jitter, as LocalStack snapshot matching does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shim.harness import audiocheck
from shim.harness.jsonpaths import IgnoreList, flatten
from shim.harness.messages import utterances
from shim.harness.recording import Recording
from shim.harness.textdiff import TextDiff, diff
from shim.harness.textdiff import wer as word_error_rate

TICKS_PER_SECOND = 10_000_000

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
    "audioStreamPosition": 32_000,
    "audioSizeBytes": 32_000,
    "duration": 1,
}


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


# -- alignment ------------------------------------------------------------------------------------


def _similarity(a: SideUtterance, b: SideUtterance, tolerance: float) -> float | None:
    """1 + overlap/union of the two intervals; None if they are too far apart to pair."""
    overlap = min(a.end, b.end) - max(a.start, b.start)
    union = max(a.end, b.end) - min(a.start, b.start)
    if overlap > 0 and union > 0:
        return 1.0 + overlap / union
    gap = max(a.start, b.start) - min(a.end, b.end)
    if gap <= tolerance:
        return 1.0
    return None


def align(
    a: Sequence[SideUtterance], b: Sequence[SideUtterance], tolerance: float
) -> list[tuple[SideUtterance | None, SideUtterance | None]]:
    """Order-keeping pairs of utterances maximising the total similarity; gaps as None."""
    rows, cols = len(a) + 1, len(b) + 1
    best = [[0.0] * cols for _ in range(rows)]
    for i in range(1, rows):
        for j in range(1, cols):
            options = [best[i - 1][j], best[i][j - 1]]
            score = _similarity(a[i - 1], b[j - 1], tolerance)
            if score is not None:
                options.append(best[i - 1][j - 1] + score)
            best[i][j] = max(options)
    pairs: list[tuple[SideUtterance | None, SideUtterance | None]] = []
    i, j = len(a), len(b)
    while i or j:
        score = _similarity(a[i - 1], b[j - 1], tolerance) if i and j else None
        if score is not None and best[i][j] == best[i - 1][j - 1] + score:
            pairs.append((a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif i and best[i][j] == best[i - 1][j]:
            pairs.append((a[i - 1], None))
            i -= 1
        else:
            pairs.append((None, b[j - 1]))
            j -= 1
    pairs.reverse()
    return pairs


# -- comparison ------------------------------------------------------------------------------------


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
    audio_time: bool

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
    if not audio_time:  # one side without TimingInfo: both on the arrival timeline
        a = read_side(a.label, a.source, a.recording, use_timing=False)
        b = read_side(b.label, b.source, b.recording, use_timing=False)
    differences = _field_differences(a.snapshot(), b.snapshot(), "$", ignore, tolerance)
    pairs = []
    for index, (ua, ub) in enumerate(align(a.utterances, b.utterances, max(tolerance, 0.5))):
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
