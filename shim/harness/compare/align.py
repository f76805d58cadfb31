"""Pairs of utterances from two sides, in order, an unmatched one left as a gap.

Both alignments keep the order of both sides and maximise the total score of the pairs
(Needleman–Wunsch), so an extra or missing utterance on one side shows as a gap instead of
shifting every later pair. What scores a pair depends on what the sides know:

- both have TimingInfo: the overlap of the utterances on the audio timeline
  (:func:`align_by_time`); utterances too far apart are never paired;
- either has none: order and text similarity (:func:`align_by_text`). Arrival times cannot
  pair them: they depend on how fast the client sent the audio (a burst recording and a
  realtime one of the same audio have finals seconds apart) and on the server's latency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shim.harness.compare.sides import SideUtterance
from shim.harness.compare.textdiff import similarity

Pairs = list[tuple[SideUtterance | None, SideUtterance | None]]
Score = Callable[[SideUtterance, SideUtterance], float | None]
"""A pair's score (higher pairs first), or None if the two must not be paired."""

TEXT_PAIR_BASE = 0.5
"""What any two utterances score in :func:`align_by_text` before their text similarity (0–1).
Above 0, so the same number of utterances on both sides pair one to one in order, however
different their texts (a substitution, not a deletion plus an insertion); below 1, so
skipping one utterance to pair the rest with their equals beats pairing everything off by
one."""


def _time_score(tolerance: float) -> Score:
    def score(a: SideUtterance, b: SideUtterance) -> float | None:
        """1 + overlap/union of the two intervals; None if they are too far apart to pair."""
        overlap = min(a.end, b.end) - max(a.start, b.start)
        union = max(a.end, b.end) - min(a.start, b.start)
        if overlap > 0 and union > 0:
            return 1.0 + overlap / union
        gap = max(a.start, b.start) - min(a.end, b.end)
        return 1.0 if gap <= tolerance else None

    return score


def _text_score(a: SideUtterance, b: SideUtterance) -> float:
    return TEXT_PAIR_BASE + similarity(a.recognition, b.recognition)


def _align(a: Sequence[SideUtterance], b: Sequence[SideUtterance], score: Score) -> Pairs:
    """Order-keeping pairs maximising the total score; gaps as None."""
    rows, cols = len(a) + 1, len(b) + 1
    scores = [[score(a[i], b[j]) for j in range(len(b))] for i in range(len(a))]
    best = [[0.0] * cols for _ in range(rows)]
    for i in range(1, rows):
        for j in range(1, cols):
            options = [best[i - 1][j], best[i][j - 1]]
            pair = scores[i - 1][j - 1]
            if pair is not None:
                options.append(best[i - 1][j - 1] + pair)
            best[i][j] = max(options)
    pairs: Pairs = []
    i, j = len(a), len(b)
    while i or j:
        pair = scores[i - 1][j - 1] if i and j else None
        if pair is not None and best[i][j] == best[i - 1][j - 1] + pair:
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


def align_by_time(
    a: Sequence[SideUtterance], b: Sequence[SideUtterance], tolerance: float
) -> Pairs:
    """Pairs by overlap on the audio timeline; utterances more than ``tolerance`` seconds
    apart stay unpaired."""
    return _align(a, b, _time_score(tolerance))


def align_by_text(a: Sequence[SideUtterance], b: Sequence[SideUtterance]) -> Pairs:
    """Pairs by order and recognised-text similarity (see :data:`TEXT_PAIR_BASE`)."""
    return _align(a, b, _text_score)
