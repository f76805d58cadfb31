"""Word-level alignment of two transcripts, and the word error rate between them.

Comparisons of recognition results count errors the way ASR evaluations do (WER: the
substitutions, deletions and insertions of a minimal word alignment over the reference's
words), ignoring case and punctuation, but show the original words so people see what
actually changed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["equal", "sub", "del", "ins"]


@dataclass(frozen=True)
class Op:
    """One step of the alignment; ``a`` from the reference side, ``b`` from the other."""

    kind: Kind
    a: str | None
    b: str | None


def words(text: str) -> list[str]:
    return text.split()


def normalise(word: str) -> str:
    """Lower case without punctuation: "Quality." and "quality" are the same word."""
    kept = "".join(c for c in word if not unicodedata.category(c).startswith("P"))
    return kept.casefold()


def align(a: Sequence[str], b: Sequence[str]) -> list[Op]:
    """A minimal edit script from ``a`` to ``b`` (Levenshtein on normalised words)."""
    na, nb = [normalise(w) for w in a], [normalise(w) for w in b]
    rows, cols = len(a) + 1, len(b) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            same = na[i - 1] == nb[j - 1]
            cost[i][j] = min(
                cost[i - 1][j - 1] + (0 if same else 1),
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
            )
    ops: list[Op] = []
    i, j = len(a), len(b)
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (0 if na[i - 1] == nb[j - 1] else 1):
            kind: Kind = "equal" if na[i - 1] == nb[j - 1] else "sub"
            ops.append(Op(kind, a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(Op("del", a[i - 1], None))
            i -= 1
        else:
            ops.append(Op("ins", None, b[j - 1]))
            j -= 1
    ops.reverse()
    return ops


def errors(ops: Sequence[Op]) -> int:
    return sum(1 for op in ops if op.kind != "equal")


def similarity(a: str, b: str) -> float:
    """How alike two transcripts are, 0–1: twice the words they share in order over all
    their words (normalised as in :func:`align`); two empty transcripts are alike."""
    total = len(words(a)) + len(words(b))
    if total == 0:
        return 1.0
    shared = sum(1 for op in align(words(a), words(b)) if op.kind == "equal")
    return 2 * shared / total


def wer(reference_words: int, error_count: int) -> float:
    """Errors per reference word; a non-empty hypothesis against nothing counts as 1.0."""
    if reference_words == 0:
        return 0.0 if error_count == 0 else 1.0
    return error_count / reference_words


@dataclass(frozen=True)
class TextDiff:
    a: str
    b: str
    ops: tuple[Op, ...]

    @property
    def errors(self) -> int:
        return errors(self.ops)

    @property
    def reference_words(self) -> int:
        return len(words(self.a))

    @property
    def wer(self) -> float:
        return wer(self.reference_words, self.errors)

    @property
    def identical(self) -> bool:
        return self.a == self.b


def diff(a: str, b: str) -> TextDiff:
    return TextDiff(a, b, tuple(align(words(a), words(b))))
