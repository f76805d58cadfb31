"""Quality yardsticks shared by the local-engine tests and benchmark: WER and language checks."""

from __future__ import annotations

import json
import re
import unicodedata
import wave
from pathlib import Path

AUDIO = Path(__file__).resolve().parent.parent.parent / "shared" / "audio"


def vocabulary(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


# Frequent function words: a translation into the language is full of them, English is not.
SPANISH = vocabulary(
    "el la los las un una unos unas de del al y o que en es son por para con sin su sus",
    "se lo le les mi tu nuestro vuestro puede pueden qué como este esta esto usted ustedes",
    "no sí hacer país muy pero más",
)
PORTUGUESE = vocabulary(
    "o a os as um uma de do da dos das e ou que em no na nos nas é são por para com sem seu",
    "sua seus se você vocês pode podem fazer país não sim mas mais pelo pela este esta isso",
)
ENGLISH = vocabulary(
    "the a an of and or that in is are to for with without you your can do this it be"
)
GERMAN = vocabulary("der die das den dem des und ist sie ein eine mit von zu nicht oder ob")


def words(text: str) -> list[str]:
    """Lower case, no punctuation, hyphens split: what WER compares."""
    text = unicodedata.normalize("NFKC", text).lower().replace("-", " ")
    return re.sub(r"[^\w' ]+", " ", text).replace("'", "").split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[:], i
        for j, hyp in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref != hyp))
    return row[-1]


def wer(reference: str, hypothesis: str) -> float:
    ref = words(reference)
    return edit_distance(ref, words(hypothesis)) / max(1, len(ref))


def share(text: str, vocabulary: frozenset[str]) -> float:
    """Fraction of the words of ``text`` that are in ``vocabulary``."""
    found = words(text)
    return sum(w in vocabulary for w in found) / max(1, len(found))


def looks_like(text: str, vocabulary: frozenset[str], other: frozenset[str] = ENGLISH) -> bool:
    """More of the language's function words than English ones, and a fair share of them."""
    return share(text, vocabulary) >= 0.15 and share(text, vocabulary) > share(text, other)


def transcript(name: str) -> str:
    manifest = json.loads((AUDIO / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["file"] == name:
            return str(entry["transcript"])
    raise KeyError(name)


def read_pcm(name: str) -> bytes:
    """The PCM samples of a shared recording (16 kHz mono 16-bit)."""
    with wave.open(str(AUDIO / name)) as wav:
        return bytes(wav.readframes(wav.getnframes()))
