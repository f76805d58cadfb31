"""The catalog cut down to what a speech backend serves, for ``/languages`` (sans-I/O).

Clients fill their "from" menu with the ``speech`` scope and their "to" menu with the ``text``
scope, and offer every combination (the official WPF and Node samples do). So the cut keeps
a set of speech locales and text languages whose *every* pair the backend serves:

* the anchor is the recognised speech entry that reaches the most text languages; the text
  scope is what it reaches;
* another speech entry stays when it reaches all of those too, and its own language is one
  of them (LG3: every speech language is a key of ``text``);
* a ``tts`` voice stays when its language stays and the backend speaks it.

With one recognition language (the default English Whisper model) that is exactly what the
backend serves. With a multilingual model some served pairs cannot be listed without listing
pairs that are not; the backend's own list (``/emulator/capabilities``) has them all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Literal

from shim.catalog.catalog import Catalog
from shim.catalog.records import LegacyVoice, SpeechLanguage, SpeechLocale

# (source locale, target language or None) -> None when served, else the reason it is not.
PairCheck = Callable[[str, str | None], str | None]
AnyLanguage = Literal["*"]


def _primary(tag: str) -> str:
    return tag.split("-")[0].lower()


def _biclique(
    speech: Sequence[SpeechLanguage], text_codes: Sequence[str], supports: PairCheck
) -> tuple[list[SpeechLanguage], list[str]]:
    reach: dict[str, set[str]] = {}
    for entry in speech:
        if entry.locale not in reach and supports(entry.locale, None) is None:
            reach[entry.locale] = {c for c in text_codes if supports(entry.locale, c) is None}
    recognised = [e for e in speech if e.locale in reach]
    if not recognised:
        return [], []
    anchor = max(recognised, key=lambda e: len(reach[e.locale]))  # the first of the largest
    text = reach[anchor.locale]
    kept = [e for e in recognised if e.language in text and reach[e.locale] >= text]
    return kept, [c for c in text_codes if c in text]


def served_catalog(
    catalog: Catalog, supports: PairCheck, synthesis: Collection[str] | AnyLanguage
) -> Catalog:
    """``catalog`` with only the speech locales, text languages and voices whose every
    combination ``supports`` accepts; ``synthesis`` lists the languages the backend speaks
    (primary subtags) or is ``"*"``. Lookups (normalising ``from``/``to``/``voice``) are
    unaffected: a client may still ask for anything, and the handshake says what it lacks."""

    def spoken(language: str) -> bool:
        return synthesis == "*" or _primary(language) in synthesis

    current_speech = catalog.speech_languages(current=True)
    speech, text_codes = _biclique(current_speech, [t.code for t in catalog.text], supports)
    locales = {s.locale for s in speech}
    codes = set(text_codes)

    legacy_speech, legacy_codes = _biclique(
        catalog.legacy_speech, [t.code for t in catalog.text_languages(current=False)], supports
    )
    legacy_kept = set(legacy_codes)
    legacy_voices: list[LegacyVoice] = [
        v
        for v in catalog.legacy_voices
        if v.voice.language in legacy_kept and spoken(v.voice.language)
    ]
    return replace(
        catalog,
        speech_locales=tuple(
            SpeechLocale(s.locale, s.name) for s in catalog.speech_locales if s.locale in locales
        ),
        text=tuple(t for t in catalog.text if t.code in codes),
        voices=tuple(
            v for v in catalog.voices if catalog.text_code(v.locale) in codes and spoken(v.locale)
        ),
        legacy_speech=tuple(legacy_speech),
        legacy_text=tuple(t for t in catalog.legacy_text if t.code in legacy_kept),
        legacy_voices=tuple(legacy_voices),
        origin=catalog.origin + "+served",
    )
