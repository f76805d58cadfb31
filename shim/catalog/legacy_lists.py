"""What the legacy-shaped ``/languages`` lists need beyond the records (LG3).

* The legacy ``text`` list gains native names from today's data, and any language its
  ``speech`` or ``tts`` lists name but it lacks (the data's te-IN voice has no ``te`` text
  entry), so every ``language`` key resolves.
* ``tts`` entries carry a region name; today's voices only have "Language (…, Region)"
  labels, so names come from the legacy voices first, then from those labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from shim.catalog.records import (
    LegacyVoice,
    NeuralVoice,
    SpeechLanguage,
    SpeechLocale,
    TextLanguage,
)
from shim.catalog.tags import TEXT_ALIASES, clean, region

_LABEL_REGION = re.compile(r"\(([^()]*)\)\s*$")


def legacy_text_list(
    legacy_text: Iterable[TextLanguage],
    legacy_speech: Iterable[SpeechLanguage],
    legacy_voices: Iterable[LegacyVoice],
    today: Iterable[TextLanguage],
) -> tuple[TextLanguage, ...]:
    """Legacy text list with native names from ``today``'s languages and the LG3 supplement."""
    current = {t.code: t for t in today}
    index = {code.lower(): code for code in current}

    def now(code: str) -> TextLanguage | None:
        tag = clean(code)
        if tag is None:
            return None
        for table in (index, TEXT_ALIASES):
            target = table.get(tag)
            if target is not None and target in current:
                return current[target]
        return None

    entries = {}
    for legacy in legacy_text:
        found = now(legacy.code)
        entries[legacy.code] = replace(
            legacy,
            native_name=found.native_name if found else None,
            speech_translation_target=found.speech_translation_target if found else False,
        )
    legacy_voices = tuple(legacy_voices)
    needed = [s.language for s in legacy_speech]
    needed += [v.voice.language for v in legacy_voices]
    added = False
    for code in needed:
        if code not in entries and code in current:
            entries[code] = current[code]
            added = True
    values = list(entries.values())
    if added:  # keep the list's order: by English name
        values.sort(key=lambda t: t.name.casefold())
    return tuple(values)


def region_names(
    legacy_voices: Iterable[LegacyVoice],
    speech_locales: Iterable[SpeechLocale],
    voices: Iterable[NeuralVoice],
) -> dict[str, str]:
    """Region subtag → English name: legacy voices first, then "Language (…, Region)" names."""
    names: dict[str, str] = {}
    for legacy in legacy_voices:
        subtag = region(legacy.voice.locale)
        if subtag and legacy.voice.region_name:
            names.setdefault(subtag, legacy.voice.region_name)
    labelled = [(s.locale, s.name) for s in speech_locales]
    labelled += [(v.locale, v.locale_name) for v in voices]
    for locale, name in labelled:
        subtag = region(locale)
        match = _LABEL_REGION.search(name)
        if subtag and match and subtag not in names:
            names[subtag] = match.group(1).split(",")[-1].strip()
    return names
