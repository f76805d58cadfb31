"""Many sessions compared at once: per-session figures, totals, and the user's thresholds.

``replay-set`` compares each captured session (A, the primary) with its replay on a
candidate (B); the server's shadow view compares each shadowed session with its shadow. Both
summarise the same way: finals missing on B and extra on B (unpaired utterances), the word
error rate of B's finals and translations against A's, how much later B's finals came
(arrival after the first audio, paired finals only), and the close codes.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from shim.harness.compare.comparison import Comparison, Pair
from shim.harness.compare.textdiff import wer


@dataclass(frozen=True)
class Disagreement:
    """One utterance the sides do not agree on: ``kind`` text, missing (on B) or extra."""

    index: int
    kind: str
    recognition_a: str | None
    recognition_b: str | None
    translation_a: str | None
    translation_b: str | None


def _disagreement(index: int, pair: Pair) -> Disagreement | None:
    kind = "missing" if pair.b is None else "extra" if pair.a is None else None
    if kind is None and pair.recognition.identical and pair.translation.identical:
        return None
    return Disagreement(
        index,
        kind or "text",
        pair.a.recognition if pair.a else None,
        pair.b.recognition if pair.b else None,
        pair.a.translation if pair.a else None,
        pair.b.translation if pair.b else None,
    )


@dataclass
class SessionSummary:
    """One session of a set: its comparison's figures, or why there is none."""

    name: str
    comparison: Comparison | None
    problem: str | None = None  # the session could not be replayed / the shadow failed
    note: str = ""  # what else the reader should know (a shadow's status)
    breaches: list[str] = field(default_factory=list)

    def without_frames(self) -> SessionSummary:
        """The summary without the sides' frames (their audio): what the set's report needs
        is in the utterances, so a set of many sessions holds no audio."""
        if self.comparison is not None:
            for side in (self.comparison.a, self.comparison.b):
                side.recording = replace(side.recording, frames=[])
        return self

    @property
    def pairs(self) -> list[Pair]:
        return self.comparison.pairs if self.comparison else []

    @property
    def finals_a(self) -> int:
        return len(self.comparison.a.utterances) if self.comparison else 0

    @property
    def finals_b(self) -> int:
        return len(self.comparison.b.utterances) if self.comparison else 0

    @property
    def missing(self) -> int:
        return sum(1 for p in self.pairs if p.b is None)

    @property
    def extra(self) -> int:
        return sum(1 for p in self.pairs if p.a is None)

    @property
    def recognition_errors(self) -> tuple[int, int]:
        """(errors, reference words) of the recognitions."""
        return _errors(self.pairs, "recognition")

    @property
    def translation_errors(self) -> tuple[int, int]:
        return _errors(self.pairs, "translation")

    @property
    def recognition_wer(self) -> float:
        return wer(self.recognition_errors[1], self.recognition_errors[0])

    @property
    def translation_wer(self) -> float:
        return wer(self.translation_errors[1], self.translation_errors[0])

    @property
    def latency_differences(self) -> list[float]:
        """Per paired final: B's arrival minus A's, seconds."""
        return [p.arrival_delta for p in self.pairs if p.arrival_delta is not None]

    @property
    def latency_difference(self) -> float | None:
        """The median of :attr:`latency_differences` (None without pairs)."""
        values = self.latency_differences
        return statistics.median(values) if values else None

    @property
    def close_codes(self) -> tuple[int | None, int | None]:
        if self.comparison is None:
            return None, None
        a = (self.comparison.a.recording.close or {}).get("code")
        b = (self.comparison.b.recording.close or {}).get("code")
        return a, b

    @property
    def differences(self) -> int:
        """Field differences outside the comparison's ignored paths (as ``compare`` counts)."""
        return len(self.comparison.differences) if self.comparison else 0

    @property
    def disagreements(self) -> list[Disagreement]:
        found = (_disagreement(i, p) for i, p in enumerate(self.pairs))
        return [d for d in found if d is not None]

    @property
    def passed(self) -> bool:
        return not self.breaches and self.problem is None


def _errors(pairs: Sequence[Pair], attribute: str) -> tuple[int, int]:
    diffs = [getattr(p, attribute) for p in pairs]
    return sum(d.errors for d in diffs), sum(d.reference_words for d in diffs)


@dataclass(frozen=True)
class Thresholds:
    """Where a set fails (``None``: not checked). WER as a fraction, latency in seconds."""

    max_wer: float | None = 0.0
    max_translation_wer: float | None = None
    max_missing: int | None = 0
    max_extra: int | None = 0
    max_latency: float | None = None
    same_close: bool = True

    def judge(self, session: SessionSummary) -> list[str]:
        """What ``session`` breaks, in words; also stored on it."""
        found: list[str] = []
        if session.problem is not None:
            found.append(session.problem)
        checks = (
            (self.max_missing, session.missing, "finals missing on B"),
            (self.max_extra, session.extra, "extra finals on B"),
        )
        for limit, value, what in checks:
            if limit is not None and value > limit:
                found.append(f"{value} {what} (at most {limit})")
        rates = (
            (self.max_wer, session.recognition_wer, "recognition WER"),
            (self.max_translation_wer, session.translation_wer, "translation WER"),
        )
        for limit_rate, rate, what in rates:
            if limit_rate is not None and rate > limit_rate + 1e-12:
                found.append(f"{what} {rate:.1%} (at most {limit_rate:.1%})")
        latency = session.latency_difference
        if self.max_latency is not None and latency is not None and latency > self.max_latency:
            found.append(
                f"finals {latency * 1000:+.0f} ms later (at most {self.max_latency * 1000:.0f} ms)"
            )
        a, b = session.close_codes
        if self.same_close and session.comparison is not None and a != b:
            found.append(f"close code {b} instead of {a}")
        session.breaches = found
        return found


@dataclass
class SetSummary:
    """A set of sessions and its totals."""

    title: str
    a_label: str
    b_label: str
    sessions: list[SessionSummary]
    thresholds: Thresholds | None = None

    def __post_init__(self) -> None:
        if self.thresholds is not None:
            for session in self.sessions:
                self.thresholds.judge(session)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.sessions)

    @property
    def failed(self) -> int:
        return sum(1 for s in self.sessions if not s.passed)

    @property
    def missing(self) -> int:
        return sum(s.missing for s in self.sessions)

    @property
    def extra(self) -> int:
        return sum(s.extra for s in self.sessions)

    @property
    def finals_a(self) -> int:
        return sum(s.finals_a for s in self.sessions)

    @property
    def finals_b(self) -> int:
        return sum(s.finals_b for s in self.sessions)

    def _wer(self, attribute: str) -> float:
        pairs = [getattr(s, attribute) for s in self.sessions]
        return wer(sum(p[1] for p in pairs), sum(p[0] for p in pairs))

    @property
    def recognition_wer(self) -> float:
        """Over every word of the set (not the mean of the sessions' rates)."""
        return self._wer("recognition_errors")

    @property
    def translation_wer(self) -> float:
        return self._wer("translation_errors")

    @property
    def latency_difference(self) -> float | None:
        values = [v for s in self.sessions for v in s.latency_differences]
        return statistics.median(values) if values else None

    @property
    def close_changes(self) -> int:
        return sum(
            1
            for s in self.sessions
            if s.comparison is not None and s.close_codes[0] != s.close_codes[1]
        )

    @property
    def disagreements(self) -> int:
        return sum(len(s.disagreements) for s in self.sessions)

    @property
    def differences(self) -> int:
        return sum(s.differences for s in self.sessions)
