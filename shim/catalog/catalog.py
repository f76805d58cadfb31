"""Languages and voices: one immutable :class:`Catalog` the whole server asks.

It holds today's Azure data (speech-translation source locales, Translator text languages,
neural voices, default voices) and the legacy Translator Speech lists with the legacy →
neural voice map, all from ``shim/data/azure-speech-catalog.json`` (a copy of the shared
data, so the product never reads outside its package). :meth:`Catalog.from_sources` lays a
live voices list and Translator language list over it. The catalog satisfies
:class:`~shim.catalog.resolver.LanguageResolver` and feeds the ``/languages`` document.

Rules the data does not spell out, decided here:

* A locale maps to a text code by the longest matching prefix of its subtags: an exact text
  code first (``pt-PT`` → ``pt-PT``, ``fr-CA`` → ``fr-CA``: a locale that names a text code
  of its own keeps it), then the locale table below (``zh-CN`` → ``zh-Hans``), then aliases
  (``zh`` → ``zh-Hans``, ``tlh`` → ``tlh-Latn``), then the primary subtag (``fr-FR`` → ``fr``).
* A bare language's default locale is the locale of its default voice
  (``default_voice_per_language``) when that locale is a speech-translation source; else
  the data's own locale rule (region equal to the language, then the legacy speech-scope
  locale, then the first alphabetically).
* A voice fits a target language when its locale maps to that text code or shares its
  primary language (a ``pt-BR`` voice reads ``pt-PT`` text); multilingual voices fit any.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal, Protocol, cast

from shim.catalog.errors import UnsupportedValue

Direction = Literal["ltr", "rtl"]

BUNDLED_RESOURCE = "data/azure-speech-catalog.json"
LONG_FORM_PREFIX = "Microsoft Server Speech Text to Speech Voice"

# Locales whose text language is not their primary subtag. zh-HK is Cantonese speech and
# Cantonese voices (the data's default_voice_per_language picks zh-HK for yue), so: yue.
_LOCALE_TEXT = {
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-tw": "zh-Hant",
    "zh-mo": "zh-Hant",
    "zh-hk": "yue",
    "sr-rs": "sr-Cyrl",
    "mn-mn": "mn-Cyrl",
}
# Bare subtags and retired Translator codes (v2 zh-CHS/zh-CHT, the legacy Klingon codes,
# ISO 639 renames) → today's text code.
_TEXT_ALIASES = {
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
_LONG_FORM = re.compile(
    r"microsoft server speech text to speech voice\s*\(\s*([^,()]+?)\s*,\s*([^()]+?)\s*\)"
)
_LEGACY_SUFFIX = re.compile(r"(?:24krus|rus)$")
_REGION = re.compile(r"[a-z]{2}|[0-9]{3}")
_HINT_CUTOFF = 0.4


@dataclass(frozen=True, slots=True)
class SpeechLocale:
    """A locale the backend recognises and translates from."""

    locale: str
    name: str


@dataclass(frozen=True, slots=True)
class TextLanguage:
    """A Translator text language; ``native_name`` is its name in itself, when known."""

    code: str
    name: str
    dir: Direction
    native_name: str | None = None
    speech_translation_target: bool = False


@dataclass(frozen=True, slots=True)
class NeuralVoice:
    short_name: str
    locale: str
    gender: str  # "female", "male" or "neutral"
    display_name: str
    locale_name: str  # e.g. "English (United States)"
    multilingual: bool = False
    hd: bool = False
    preview: bool = False
    child: bool = False

    @property
    def default_eligible(self) -> bool:
        """The data's default-voice rule skips HD, multilingual, preview and child voices."""
        return not (self.hd or self.multilingual or self.preview or self.child)


@dataclass(frozen=True, slots=True)
class SpeechLanguage:
    """One entry of the ``speech`` scope: ``language`` is a key of the ``text`` scope."""

    locale: str
    name: str
    language: str


@dataclass(frozen=True, slots=True)
class TtsVoice:
    """One entry of the ``tts`` scope (legacy shape); ``language`` is a key of ``text``."""

    id: str
    display_name: str
    gender: str
    locale: str
    language: str
    language_name: str
    region_name: str


@dataclass(frozen=True, slots=True)
class LegacyVoice:
    voice: TtsVoice
    service_name: str | None
    twin: str | None  # neural voice with the same name (exact or documented rename)
    same_gender: str | None  # the data's fallback that keeps the legacy voice's gender


class CatalogSource(Protocol):
    """Where the current catalog comes from: a :class:`Catalog` itself, a
    :class:`~shim.catalog.live.LiveCatalog`, or what ``/languages`` serves of either."""

    def current(self) -> Catalog: ...


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it is large
class Catalog:
    """Immutable languages-and-voices data with its lookups. Build with :meth:`bundled`."""

    speech_locales: tuple[SpeechLocale, ...]
    text: tuple[TextLanguage, ...]
    voices: tuple[NeuralVoice, ...]
    default_voice_per_locale: Mapping[str, str]
    default_voice_per_language: Mapping[str, str]
    legacy_speech: tuple[SpeechLanguage, ...]
    legacy_text: tuple[TextLanguage, ...]
    legacy_voices: tuple[LegacyVoice, ...]
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
        voices = tuple(_neural_voice(item) for item in _list(data, "neural_voices"))
        to_neural = _str_map(data, "legacy_voice_to_neural")
        same_gender = _str_map(data, "legacy_voice_to_neural_same_gender")
        basis = _str_map(data, "legacy_voice_mapping_basis")
        legacy_voices = []
        for item in _list(data, "legacy_tts_voices"):
            voice = _tts_voice(item)
            exact = not basis.get(voice.id, "fallback").startswith("fallback")
            legacy_voices.append(
                LegacyVoice(
                    voice=voice,
                    service_name=_opt_str(item, "service_name"),
                    twin=to_neural.get(voice.id) if exact else None,
                    same_gender=same_gender.get(voice.id) or to_neural.get(voice.id),
                )
            )
        return cls(
            speech_locales=tuple(
                SpeechLocale(_str(item, "locale"), _str(item, "name"))
                for item in _list(data, "speech_translation_source_locales")
            ),
            text=tuple(
                TextLanguage(
                    code=_str(item, "code"),
                    name=_str(item, "name"),
                    dir=_direction(item),
                    native_name=_opt_str(item, "native_name"),
                    speech_translation_target=bool(item.get("speech_translation_target")),
                )
                for item in _list(data, "translation_text_languages")
            ),
            voices=voices,
            default_voice_per_locale=MappingProxyType(_str_map(data, "default_voice_per_locale")),
            default_voice_per_language=MappingProxyType(
                _str_map(data, "default_voice_per_language")
            ),
            legacy_speech=tuple(
                SpeechLanguage(_str(item, "locale"), _str(item, "name"), _str(item, "language"))
                for item in _list(data, "legacy_speech_languages")
            ),
            legacy_text=tuple(
                TextLanguage(_str(item, "code"), _str(item, "name"), _direction(item))
                for item in _list(data, "legacy_text_languages")
            ),
            legacy_voices=tuple(legacy_voices),
            origin=origin,
        )

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
        tag = _clean(value)
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
        tag = _clean(value)
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
        primary = code.split("-")[0].lower()
        if not locales:
            locales = [s.locale for s in self.speech_locales if _primary(s.locale) == primary]
        return _pick_locale(locales, primary, self._index.legacy_speech_locales)

    def default_voice(self, code: str) -> str | None:
        """The default neural voice for a text code, if the language has voices."""
        name = self.default_voice_per_language.get(code)
        if name is not None and name.lower() in self._index.voices:
            return name
        return None

    def voice(self, short_name: str) -> NeuralVoice | None:
        return self._index.voices.get(short_name.lower())

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
            region = _region(voice.locale)
            entries.append(
                TtsVoice(
                    id=voice.short_name,
                    display_name=voice.display_name,
                    gender=voice.gender,
                    locale=voice.locale,
                    language=code,
                    language_name=names[code],
                    region_name=self._index.region_names.get(region or "", region or ""),
                )
            )
        return tuple(entries)

    # ------------------------------------------------------------------ internals

    def _whole_text_code(self, tag: str) -> str | None:
        """``tag`` (lower case) as a whole: a text code, a listed locale, or an alias."""
        index = self._index.text
        if tag in index:
            return index[tag]
        for table in (_LOCALE_TEXT, _TEXT_ALIASES):
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
        primaries = {_primary(voice.locale), _primary(code or voice.locale)}
        return _primary(target) in primaries

    def _from_hint(self, value: str) -> str | None:
        code = self._whole_text_code(_primary(value))
        if code is not None:
            default = self.default_locale(code)
            if default is not None:
                return default
        return _closest(value, self._index.speech)

    def _to_hint(self, value: str) -> str | None:
        return _closest(value, self._index.text)

    def _voice_hint(self, raw: str, target: str) -> str | None:
        candidates = {
            v.short_name.lower(): v.short_name for v in self.voices if self._speaks(v, target)
        }
        for legacy in self.legacy_voices:
            if self._primary_text(legacy.voice.language) == _primary(target):
                candidates[legacy.voice.id.lower()] = legacy.voice.id
        return _closest(raw, candidates) or self.default_voice(target)

    def _primary_text(self, code: str) -> str:
        return _primary(self.text_code(code) or code)


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
        current_text = {t.code: t for t in catalog.text}
        legacy_text = _legacy_text(catalog, text, current_text)
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
            region_names=MappingProxyType(_region_names(catalog)),
        )


def _legacy_text(
    catalog: Catalog, index: Mapping[str, str], current: Mapping[str, TextLanguage]
) -> tuple[TextLanguage, ...]:
    """Legacy text list with native names from today's data and the LG3 supplement."""

    def today(code: str) -> TextLanguage | None:
        tag = _clean(code)
        if tag is None:
            return None
        for table in (index, _TEXT_ALIASES):
            target = table.get(tag)
            if target is not None and target in current:
                return current[target]
        return None

    entries = {}
    for legacy in catalog.legacy_text:
        now = today(legacy.code)
        entries[legacy.code] = replace(
            legacy,
            native_name=now.native_name if now else None,
            speech_translation_target=now.speech_translation_target if now else False,
        )
    needed = [s.language for s in catalog.legacy_speech]
    needed += [v.voice.language for v in catalog.legacy_voices]
    added = False
    for code in needed:
        if code not in entries and code in current:
            entries[code] = current[code]
            added = True
    values = list(entries.values())
    if added:  # keep the list's order: by English name
        values.sort(key=lambda t: t.name.casefold())
    return tuple(values)


def _region_names(catalog: Catalog) -> dict[str, str]:
    """Region subtag → English name: legacy voices first, then "Language (…, Region)" names."""
    names: dict[str, str] = {}
    for legacy in catalog.legacy_voices:
        region = _region(legacy.voice.locale)
        if region and legacy.voice.region_name:
            names.setdefault(region, legacy.voice.region_name)
    labelled = [(s.locale, s.name) for s in catalog.speech_locales]
    labelled += [(v.locale, v.locale_name) for v in catalog.voices]
    for locale, name in labelled:
        region = _region(locale)
        match = re.search(r"\(([^()]*)\)\s*$", name)
        if region and match and region not in names:
            names[region] = match.group(1).split(",")[-1].strip()
    return names


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
            by_name[kept].short_name if kept in by_name else _locale_default(members)
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
        chosen = _pick_locale(locales, _primary(text.code), legacy_locales, prefer=speech)
        if chosen is not None:
            per_language[text.code] = per_locale[chosen]

    legacy_voices = []
    for legacy in catalog.legacy_voices:
        members = by_locale.get(legacy.voice.locale, [])
        twin = legacy.twin if legacy.twin and legacy.twin.lower() in by_name else None
        same = legacy.same_gender
        if same is None or same.lower() not in by_name:
            same = _gender_default(members, legacy.voice.gender)
        legacy_voices.append(replace(legacy, twin=twin, same_gender=same))

    return replace(
        probe,
        default_voice_per_language=MappingProxyType(per_language),
        legacy_voices=tuple(legacy_voices),
    )


def _locale_default(members: Sequence[NeuralVoice]) -> str:
    """The data's rule: first eligible female, else first eligible, else first non-HD."""
    eligible = [v for v in members if v.default_eligible]
    non_hd = [v for v in members if not v.hd]
    for pool in (eligible, non_hd, list(members)):
        female = [v for v in pool if v.gender == "female"]
        if female or pool:
            return (female or pool)[0].short_name
    raise ValueError("a locale without voices has no default")


def _gender_default(members: Sequence[NeuralVoice], gender: str) -> str | None:
    same = [v for v in members if v.default_eligible and v.gender == gender]
    if same:
        return same[0].short_name
    return _locale_default(members) if members else None


def _pick_locale(
    locales: Iterable[str],
    primary: str,
    legacy_locales: frozenset[str],
    prefer: set[str] | None = None,
) -> str | None:
    """Region equal to the language (de-DE), else the legacy speech locale (en-US), else the
    first alphabetically (restricted to ``prefer`` when any qualify)."""
    ordered = sorted(locales)
    if not ordered:
        return None
    for locale in ordered:
        if _region(locale) == primary.upper():
            return locale
    for locale in ordered:
        if locale in legacy_locales:
            return locale
    preferred = [loc for loc in ordered if prefer and loc in prefer]
    return (preferred or ordered)[0]


# ---------------------------------------------------------------------- live data parsing


def parse_voices_list(items: Sequence[Mapping[str, Any]], base: Catalog) -> tuple[NeuralVoice, ...]:
    """The Speech service's voices list → neural voices; flags the list lacks (child) come
    from ``base`` for voices it knows. Raises ``ValueError`` when nothing usable is left."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise ValueError("voices list: expected a JSON array")
    voices = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        short_name, locale = item.get("ShortName"), item.get("Locale")
        gender = str(item.get("Gender", "")).lower()
        if not isinstance(short_name, str) or not isinstance(locale, str) or not short_name:
            continue
        if gender not in ("female", "male", "neutral"):
            continue
        if item.get("VoiceType", "Neural") != "Neural":
            continue
        known = base.voice(short_name)
        secondary = item.get("SecondaryLocaleList")
        voices.append(
            NeuralVoice(
                short_name=short_name,
                locale=locale,
                gender=gender,
                display_name=str(item.get("DisplayName") or short_name),
                locale_name=str(item.get("LocaleName") or locale),
                multilingual="multilingual" in short_name.lower() or bool(secondary),
                hd=":" in short_name,
                preview=str(item.get("Status", "GA")).lower() == "preview",
                child=known.child if known else False,
            )
        )
    if not voices:
        raise ValueError("voices list: no usable neural voice")
    return tuple(voices)


def parse_translator_languages(
    document: Mapping[str, Any], base: Catalog
) -> tuple[TextLanguage, ...]:
    """Translator v3 ``scope=translation`` → text languages (English names: the request
    sends no Accept-Language). Raises ``ValueError`` when nothing usable is left."""
    translation = document.get("translation") if isinstance(document, Mapping) else None
    if not isinstance(translation, Mapping):
        raise ValueError("Translator languages: no 'translation' object")
    targets = {t.code: t.speech_translation_target for t in base.text}
    languages = []
    for code, entry in translation.items():
        if not isinstance(code, str) or not isinstance(entry, Mapping):
            continue
        name, direction = entry.get("name"), entry.get("dir", "ltr")
        if not isinstance(name, str) or direction not in ("ltr", "rtl"):
            continue
        native = entry.get("nativeName")
        languages.append(
            TextLanguage(
                code=code,
                name=name,
                dir=cast(Direction, direction),
                native_name=native if isinstance(native, str) else None,
                speech_translation_target=targets.get(code, False),
            )
        )
    if not languages:
        raise ValueError("Translator languages: no usable language")
    return tuple(languages)


# ---------------------------------------------------------------------- helpers


@cache
def _bundled() -> Catalog:
    text = resources.files("shim").joinpath(BUNDLED_RESOURCE).read_text(encoding="utf-8")
    return Catalog.from_data(json.loads(text))


def _clean(value: str) -> str | None:
    """Lower-case, ``_`` → ``-``; ``None`` unless it looks like a language tag."""
    tag = value.strip().lower().replace("_", "-")
    return tag if _TAG.fullmatch(tag) else None


def _primary(tag: str) -> str:
    return tag.strip().lower().replace("_", "-").split("-")[0]


def _region(locale: str) -> str | None:
    for subtag in locale.lower().split("-")[1:]:
        if _REGION.fullmatch(subtag):
            return subtag.upper()
    return None


def _closest(value: str, choices: Mapping[str, str]) -> str | None:
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


def _list(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise ValueError(f"catalog data: {key!r} must be a list of objects")
    return value


def _str_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"catalog data: {key!r} must be an object")
    return {str(k): str(v) for k, v in value.items()}


def _str(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise ValueError(f"catalog data: {key!r} must be a string in {dict(item)!r}")
    return value


def _opt_str(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) else None


def _direction(item: Mapping[str, Any]) -> Direction:
    value = item.get("dir", "ltr")
    if value not in ("ltr", "rtl"):
        raise ValueError(f"catalog data: dir must be ltr or rtl in {dict(item)!r}")
    return cast(Direction, value)


def _neural_voice(item: Mapping[str, Any]) -> NeuralVoice:
    return NeuralVoice(
        short_name=_str(item, "short_name"),
        locale=_str(item, "locale"),
        gender=_str(item, "gender"),
        display_name=_str(item, "display_name"),
        locale_name=_str(item, "language_name"),
        multilingual=bool(item.get("multilingual")),
        hd=bool(item.get("hd")),
        preview=bool(item.get("preview")),
        child=bool(item.get("child")),
    )


def _tts_voice(item: Mapping[str, Any]) -> TtsVoice:
    return TtsVoice(
        id=_str(item, "id"),
        display_name=_str(item, "displayName"),
        gender=_str(item, "gender").lower(),
        locale=_str(item, "locale"),
        language=_str(item, "language"),
        language_name=_str(item, "languageName"),
        region_name=_str(item, "regionName"),
    )
