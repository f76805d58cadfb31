"""Pairs of utterances from two sides, in order, an unmatched one left as a gap.

The alignment keeps the order of both sides and maximises the total similarity of the
pairs (Needleman–Wunsch), so an extra or missing utterance on one side shows as a gap
instead of shifting every later pair.
"""

from __future__ import annotations

from collections.abc import Sequence

from shim.harness.compare.sides import SideUtterance


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
