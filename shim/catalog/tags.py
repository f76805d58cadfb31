"""Language tags as the catalog reads them: cleaning, primary subtag, region, aliases, hints.

Rules the data does not spell out, decided here (the catalog applies them):

* Locales whose text language is not their primary subtag (:data:`LOCALE_TEXT`): ``zh-CN`` →
  ``zh-Hans``; ``zh-HK`` is Cantonese speech and Cantonese voices (the data's
  ``default_voice_per_language`` picks zh-HK for yue), so: ``yue``.
* Bare subtags and retired Translator codes (v2 ``zh-CHS``/``zh-CHT``, the legacy Klingon
  codes, ISO 639 renames) → today's text code (:data:`TEXT_ALIASES`).
* A hint for an unsupported value is the closest supported one (:func:`closest`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

LOCALE_TEXT = {
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-tw": "zh-Hant",
    "zh-mo": "zh-Hant",
    "zh-hk": "yue",
    "sr-rs": "sr-Cyrl",
    "mn-mn": "mn-Cyrl",
}
TEXT_ALIASES = {
    "zh": "zh-Hans",
    "zh-chs": "zh-Hans",
    "zh-cht": "zh-Hant",
    "sr": "sr-Cyrl",
    "mn": "mn-Cyrl",
    "no": "nb",
    "iw": "he",
    "in": "id",
    "tl": "fil",
    "tlh": "tlh-Latn",
    "tlh-qaak": "tlh-Piqd",
}
_TAG = re.compile(r"[a-z0-9]{1,8}(?:-[a-z0-9]{1,8})*")
_REGION = re.compile(r"[a-z]{2}|[0-9]{3}")
_HINT_CUTOFF = 0.4


def clean(value: str) -> str | None:
    """Lower-case, ``_`` → ``-``; ``None`` unless it looks like a language tag."""
    tag = value.strip().lower().replace("_", "-")
    return tag if _TAG.fullmatch(tag) else None


def primary(tag: str) -> str:
    return tag.strip().lower().replace("_", "-").split("-")[0]


def region(locale: str) -> str | None:
    for subtag in locale.lower().split("-")[1:]:
        if _REGION.fullmatch(subtag):
            return subtag.upper()
    return None


def closest(value: str, choices: Mapping[str, str]) -> str | None:
    """The closest supported value in canonical case: difflib's ratio on lower case, ties
    broken by the longer common prefix (``itt`` → ``it``, not ``tt``)."""
    wanted = value.strip().lower()
    matcher = difflib.SequenceMatcher(b=wanted)
    best: tuple[float, int, str] | None = None
    for choice in choices:
        matcher.set_seq1(choice)
        ratio = matcher.ratio()
        if ratio < _HINT_CUTOFF:
            continue
        prefix = _common_prefix(choice, wanted)
        if best is None or (ratio, prefix) > best[:2]:
            best = (ratio, prefix, choice)
    return choices[best[2]] if best else None


def _common_prefix(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length
