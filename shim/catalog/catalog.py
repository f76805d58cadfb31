"""Languages and voices: one immutable :class:`Catalog` the whole server asks.

It holds today's Azure data (speech-translation source locales, Translator text languages,
neural voices, default voices) and the legacy Translator Speech lists with the legacy →
neural voice map, all from ``shim/data/azure-speech-catalog.json`` (read by
:mod:`~shim.catalog.payloads`). :meth:`Catalog.from_sources` lays a live voices list and
Translator language list over it. The catalog satisfies
:class:`~shim.catalog.resolver.LanguageResolver` and feeds the ``/languages`` document.

The package, from the bottom up: :mod:`~shim.catalog.records` (the values),
:mod:`~shim.catalog.tags` (tag rules and hints), :mod:`~shim.catalog.defaults` (the data's
default rules), :mod:`~shim.catalog.payloads` (reading the data), :mod:`~shim.catalog.legacy_lists`
(what the legacy lists add), this module, then :mod:`~shim.catalog.live` and
:mod:`~shim.catalog.served` on top.

Rules the data does not spell out, decided here:

* A locale maps to a text code by the longest matching prefix of its subtags: an exact text
  code first (``pt-PT`` → ``pt-PT``, ``fr-CA`` → ``fr-CA``: a locale that names a text code
  of its own keeps it), then the locale table (``zh-CN`` → ``zh-Hans``), then aliases
  (``zh`` → ``zh-Hans``, ``tlh`` → ``tlh-Latn``), then the primary subtag (``fr-FR`` → ``fr``).
* A bare language's default locale is the locale of its default voice
  (``default_voice_per_language``) when that locale is a speech-translation source; else
  the data's own locale rule (region equal to the language, then the legacy speech-scope
  locale, then the first alphabetically).
* A voice fits a target language when its locale maps to that text code or shares its
  primary language (a ``pt-BR`` voice reads ``pt-PT`` text); multilingual voices fit any.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Protocol

from shim.catalog.defaults import gender_default, locale_default, pick_locale
from shim.catalog.errors import UnsupportedValue
from shim.catalog.legacy_lists import legacy_text_list, region_names
from shim.catalog.payloads import parse_translator_languages, parse_voices_list, read_bundled
from shim.catalog.records import (
    CatalogData,
    LegacyVoice,
    NeuralVoice,
    SpeechLanguage,
    TextLanguage,
    TtsVoice,
)
from shim.catalog.tags import LOCALE_TEXT, TEXT_ALIASES, clean, closest, primary, region

BUNDLED_RESOURCE = "data/azure-speech-catalog.json"
_LONG_FORM = re.compile(
    r"microsoft server speech text to speech voice\s*\(\s*([^,()]+?)\s*,\s*([^()]+?)\s*\)"
)
_LEGACY_SUFFIX = re.compile(r"(?:24krus|rus)$")


class CatalogSource(Protocol):
    """Where the current catalog comes from: a :class:`Catalog` itself, a
    :class:`~shim.catalog.live.LiveCatalog`, or what ``/languages`` serves of either."""

    def current(self) -> Catalog: ...


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it is large
class Catalog(CatalogData):
    """Immutable languages-and-voices data with its lookups. Build with :meth:`bundled`."""

    origin: str = "bundled"  # "bundled", or what live data was laid over it
    _index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _Index.build(self))

    # ------------------------------------------------------------------ construction

    @classmethod
    def bundled(cls) -> Catalog:
        """The catalog shipped with the package (parsed once per process)."""
        return _bundled()

    @classmethod
    def from_data(cls, data: Mapping[str, Any], origin: str = "bundled") -> Catalog:
        """Build from a mapping in the bundled file's format."""
        return cls(**read_bundled(data).parts(), origin=origin)

    @classmethod
    def from_sources(
        cls,
        voices_list: Sequence[Mapping[str, Any]] | None,
        translator_languages: Mapping[str, Any] | None,
        base: Catalog,
    ) -> Catalog:
        """Lay live data over ``base``; a ``None`` source keeps the base's part.

        ``voices_list`` is the Speech service's ``/cognitiveservices/voices/list`` answer,
        ``translator_languages`` Translator's ``/languages?api-version=3.0&scope=translation``
        answer. Defaults and legacy-voice targets that vanished from the live voices are
        recomputed with the data's documented rules. Raises ``ValueError`` on malformed data.
        """
        catalog = base
        parts = []
        if translator_languages is not None:
            text = parse_translator_languages(translator_languages, base)
            catalog = replace(catalog, text=text)
            parts.append("translator")
        if voices_list is not None:
            voices = parse_voices_list(voices_list, base)
            catalog = _with_voices(catalog, voices)
            parts.append("voices")
        if not parts:
            return base
        return replace(catalog, origin="live:" + "+".join(parts))

    def current(self) -> Catalog:
        """A catalog is its own catalog source (see :class:`~shim.catalog.live.LiveCatalog`)."""
        return self

    # ------------------------------------------------------------------ LanguageResolver

    def normalize_from(self, value: str) -> str:
        """``en-us`` → ``en-US``; a bare language or text code → its default locale (HS5)."""
        tag = clean(value)
        if tag is None:
            raise UnsupportedValue("from", value, self._from_hint(value))
        locale = self._index.speech.get(tag)
        if locale is not None:
            return locale
        code = self._whole_text_code(tag)
        if code is not None:
            default = self.default_locale(code)
            if default is not None:
                return default
        raise UnsupportedValue("from", value, self._from_hint(tag))

    def normalize_to(self, value: str) -> str:
        """Text code or locale → canonical text code: ``it-IT`` → ``it`` (HS6)."""
        code = self.text_code(value)
        if code is None:
            raise UnsupportedValue("to", value, self._to_hint(value))
        return code

    def resolve_voice(self, voice: str, target_language: str) -> str:
        """Legacy id, neural short name or long form → neural short name (TS5).

        Empty → the target language's default voice. A voice of another language (other
        than a multilingual one) is unsupported.
        """
        target = self.normalize_to(target_language)
        raw = voice.strip()
        if not raw:
            default = self.default_voice(target)
            if default is None:
                raise UnsupportedValue("voice", voice, None)
            return default
        found = self._find_voice(raw)
        if found is None:
            raise UnsupportedValue("voice", voice, self._voice_hint(raw, target))
        if not self._speaks(found, target):
            raise UnsupportedValue("voice", voice, self.default_voice(target))
        return found.short_name

    # ------------------------------------------------------------------ lookups

    def text_code(self, value: str) -> str | None:
        """The text code a text code, alias or locale stands for, or ``None``."""
        tag = clean(value)
        if tag is None:
            return None
        subtags = tag.split("-")
        for n in range(len(subtags), 0, -1):
            code = self._whole_text_code("-".join(subtags[:n]))
            if code is not None:
                return code
        return None

    def default_locale(self, code: str) -> str | None:
        """The speech locale a bare text language stands for (see module docstring)."""
        voice = self._index.voices.get(self.default_voice_per_language.get(code, "").lower())
        if voice is not None and voice.locale.lower() in self._index.speech:
            return self._index.speech[voice.locale.lower()]
        locales = [s.locale for s in self.speech_locales if self.text_code(s.locale) == code]
        language = code.split("-")[0].lower()
        if not locales:
            locales = [s.locale for s in self.speech_locales if primary(s.locale) == language]
        return pick_locale(locales, language, self._index.legacy_speech_locales)

    def default_voice(self, code: str) -> str | None:
        """The default neural voice for a text code, if the language has voices."""
        name = self.default_voice_per_language.get(code)
        if name is not None and name.lower() in self._index.voices:
            return name
        return None

    def voice(self, short_name: str) -> NeuralVoice | None:
        return self._index.voices.get(short_name.lower())

    def find_voice(self, voice: str) -> NeuralVoice | None:
        """The neural voice a short name, long form or legacy id stands for, or ``None``."""
        return self._find_voice(voice.strip()) if voice.strip() else None

    def is_speech_locale(self, value: str) -> bool:
        """Whether ``value`` (any case) is a locale the service recognises, as a whole."""
        return value.strip().lower() in self._index.speech

    # ------------------------------------------------------------------ /languages lists

    def speech_languages(self, current: bool) -> tuple[SpeechLanguage, ...]:
        """The ``speech`` scope: legacy list, or today's source locales (LG3-filtered)."""
        if not current:
            keys = self._index.legacy_text_codes
            return tuple(s for s in self.legacy_speech if s.language in keys)
        entries = []
        for locale in self.speech_locales:
            code = self.text_code(locale.locale)
            if code is not None:
                entries.append(SpeechLanguage(locale.locale, locale.name, code))
        return tuple(entries)

    def text_languages(self, current: bool) -> tuple[TextLanguage, ...]:
        """The ``text`` scope. The legacy list gains any language its speech or tts lists
        name but it lacks (the data's te-IN voice has no ``te`` text entry), so LG3 holds."""
        if current:
            return self.text
        return self._index.legacy_text

    def tts_voices(self, current: bool) -> tuple[TtsVoice, ...]:
        """The ``tts`` scope: legacy voices, or today's neural voices (LG3-filtered)."""
        if not current:
            keys = self._index.legacy_text_codes
            return tuple(v.voice for v in self.legacy_voices if v.voice.language in keys)
        names = {t.code: t.name for t in self.text}
        entries = []
        for voice in self.voices:
            code = self.text_code(voice.locale)
            if code is None:
                continue
            entries.append(_tts_voice(voice, code, names[code], self._index.region_names))
        return tuple(entries)

    # ------------------------------------------------------------------ internals

    def _whole_text_code(self, tag: str) -> str | None:
        """``tag`` (lower case) as a whole: a text code, a listed locale, or an alias."""
        index = self._index.text
        if tag in index:
            return index[tag]
        for table in (LOCALE_TEXT, TEXT_ALIASES):
            target = table.get(tag)
            if target is not None and target.lower() in index:
                return index[target.lower()]
        return None

    def _find_voice(self, raw: str) -> NeuralVoice | None:
        lowered = raw.lower()
        voices = self._index.voices
        if lowered in voices:
            return voices[lowered]
        legacy = self._index.legacy.get(lowered) or self._index.service_names.get(lowered)
        if legacy is None:
            match = _LONG_FORM.fullmatch(lowered)
            if match is not None:
                locale, name_parts = match.group(1), match.group(2).split(",")
                name = name_parts[0].strip()
                if f"{locale}-{name}" in voices:
                    return voices[f"{locale}-{name}"]
                apollo = any(p.strip() == "apollo" for p in name_parts[1:])
                lowered = f"{locale}-{name}-apollo" if apollo else f"{locale}-{name}"
                legacy = self._index.legacy.get(lowered)
        if legacy is not None:
            for name in (legacy.twin, legacy.same_gender):
                if name is not None and name.lower() in voices:
                    return voices[name.lower()]
            default = self.default_voice(legacy.voice.language)
            return voices[default.lower()] if default else None
        # A legacy-style id the data does not list (``de-DE-Conrad``): its neural twin.
        locale, _, name = lowered.removesuffix("-apollo").rpartition("-")
        twin = f"{locale}-{_LEGACY_SUFFIX.sub('', name)}neural"
        return voices.get(twin) if locale and name else None

    def _speaks(self, voice: NeuralVoice, target: str) -> bool:
        if voice.multilingual:
            return True
        code = self.text_code(voice.locale)
        if code == target:
            return True
        primaries = {primary(voice.locale), primary(code or voice.locale)}
        return primary(target) in primaries

    def _from_hint(self, value: str) -> str | None:
        code = self._whole_text_code(primary(value))
        if code is not None:
            default = self.default_locale(code)
            if default is not None:
                return default
        return closest(value, self._index.speech)

    def _to_hint(self, value: str) -> str | None:
        return closest(value, self._index.text)

    def _voice_hint(self, raw: str, target: str) -> str | None:
        candidates = {
            v.short_name.lower(): v.short_name for v in self.voices if self._speaks(v, target)
        }
        for legacy in self.legacy_voices:
            if self._primary_text(legacy.voice.language) == primary(target):
                candidates[legacy.voice.id.lower()] = legacy.voice.id
        return closest(raw, candidates) or self.default_voice(target)

    def _primary_text(self, code: str) -> str:
        return primary(self.text_code(code) or code)


@dataclass(frozen=True)
class _Index:
    """Lower-case lookups and derived lists, computed once per catalog."""

    speech: Mapping[str, str]
    text: Mapping[str, str]
    voices: Mapping[str, NeuralVoice]
    legacy: Mapping[str, LegacyVoice]
    service_names: Mapping[str, LegacyVoice]
    legacy_speech_locales: frozenset[str]
    legacy_text: tuple[TextLanguage, ...]
    legacy_text_codes: frozenset[str]
    region_names: Mapping[str, str]

    @classmethod
    def build(cls, catalog: Catalog) -> _Index:
        text = {t.code.lower(): t.code for t in catalog.text}
        legacy_text = legacy_text_list(
            catalog.legacy_text, catalog.legacy_speech, catalog.legacy_voices, catalog.text
        )
        return cls(
            speech=MappingProxyType({s.locale.lower(): s.locale for s in catalog.speech_locales}),
            text=MappingProxyType(text),
            voices=MappingProxyType({v.short_name.lower(): v for v in catalog.voices}),
            legacy=MappingProxyType({v.voice.id.lower(): v for v in catalog.legacy_voices}),
            service_names=MappingProxyType(
                {v.service_name.lower(): v for v in catalog.legacy_voices if v.service_name}
            ),
            legacy_speech_locales=frozenset(s.locale for s in catalog.legacy_speech),
            legacy_text=legacy_text,
            legacy_text_codes=frozenset(t.code for t in legacy_text),
            region_names=MappingProxyType(
                region_names(catalog.legacy_voices, catalog.speech_locales, catalog.voices)
            ),
        )


def _tts_voice(
    voice: NeuralVoice, code: str, language_name: str, region_names: Mapping[str, str]
) -> TtsVoice:
    """A neural voice as the ``tts`` scope lists it, under text language ``code``."""
    subtag = region(voice.locale) or ""
    return TtsVoice(
        id=voice.short_name,
        display_name=voice.display_name,
        gender=voice.gender,
        locale=voice.locale,
        language=code,
        language_name=language_name,
        region_name=region_names.get(subtag, subtag),
    )


def _with_voices(catalog: Catalog, voices: tuple[NeuralVoice, ...]) -> Catalog:
    """Replace the voices; keep each default and legacy target that still exists."""
    by_name = {v.short_name.lower(): v for v in voices}
    by_locale: dict[str, list[NeuralVoice]] = {}
    for voice in voices:
        by_locale.setdefault(voice.locale, []).append(voice)

    per_locale: dict[str, str] = {}
    for locale, members in by_locale.items():
        kept = catalog.default_voice_per_locale.get(locale, "").lower()
        per_locale[locale] = (
            by_name[kept].short_name if kept in by_name else locale_default(members)
        )

    probe = replace(catalog, voices=voices, default_voice_per_locale=MappingProxyType(per_locale))
    per_language: dict[str, str] = {}
    legacy_locales = frozenset(s.locale for s in catalog.legacy_speech)
    speech = {s.locale for s in catalog.speech_locales}
    for text in catalog.text:
        kept = catalog.default_voice_per_language.get(text.code, "").lower()
        if kept in by_name:
            per_language[text.code] = by_name[kept].short_name
            continue
        locales = [loc for loc in by_locale if probe.text_code(loc) == text.code]
        chosen = pick_locale(locales, primary(text.code), legacy_locales, prefer=speech)
        if chosen is not None:
            per_language[text.code] = per_locale[chosen]

    legacy_voices = []
    for legacy in catalog.legacy_voices:
        members = by_locale.get(legacy.voice.locale, [])
        twin = legacy.twin if legacy.twin and legacy.twin.lower() in by_name else None
        same = legacy.same_gender
        if same is None or same.lower() not in by_name:
            same = gender_default(members, legacy.voice.gender)
        legacy_voices.append(replace(legacy, twin=twin, same_gender=same))

    return replace(
        probe,
        default_voice_per_language=MappingProxyType(per_language),
        legacy_voices=tuple(legacy_voices),
    )


@cache
def _bundled() -> Catalog:
    text = resources.files("shim").joinpath(BUNDLED_RESOURCE).read_text(encoding="utf-8")
    return Catalog.from_data(json.loads(text))
