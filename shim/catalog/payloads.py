"""Reading the catalog's payloads: the bundled data file and the live lists laid over it.

* :func:`read_bundled`: ``shim/data/azure-speech-catalog.json`` (a copy of the shared data,
  so the product never reads outside its package) into records, strictly: a malformed file is
  a ``ValueError`` naming the key.
* :func:`parse_voices_list` and :func:`parse_translator_languages`: the Speech service's
  voices list and Translator's language list, leniently: entries that do not fit are skipped,
  and only a list with nothing usable left is a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, cast

from shim.catalog.records import (
    CatalogData,
    Direction,
    LegacyVoice,
    NeuralVoice,
    SpeechLanguage,
    SpeechLocale,
    TextLanguage,
    TtsVoice,
)


class KnownVoices(Protocol):
    """The voices a live list is read against (a catalog)."""

    def voice(self, short_name: str) -> NeuralVoice | None: ...


class KnownLanguages(Protocol):
    """The text languages a live list is read against (a catalog)."""

    @property
    def text(self) -> tuple[TextLanguage, ...]: ...


def read_bundled(data: Mapping[str, Any]) -> CatalogData:
    """A mapping in the bundled file's format, as records."""
    return CatalogData(
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
        voices=tuple(_neural_voice(item) for item in _list(data, "neural_voices")),
        default_voice_per_locale=MappingProxyType(_str_map(data, "default_voice_per_locale")),
        default_voice_per_language=MappingProxyType(_str_map(data, "default_voice_per_language")),
        legacy_speech=tuple(
            SpeechLanguage(_str(item, "locale"), _str(item, "name"), _str(item, "language"))
            for item in _list(data, "legacy_speech_languages")
        ),
        legacy_text=tuple(
            TextLanguage(_str(item, "code"), _str(item, "name"), _direction(item))
            for item in _list(data, "legacy_text_languages")
        ),
        legacy_voices=_legacy_voices(data),
    )


def _legacy_voices(data: Mapping[str, Any]) -> tuple[LegacyVoice, ...]:
    """Legacy voices with their neural twin (only where the data's mapping is exact) and the
    data's same-gender fallback."""
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
    return tuple(legacy_voices)


def parse_voices_list(
    items: Sequence[Mapping[str, Any]], base: KnownVoices
) -> tuple[NeuralVoice, ...]:
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
    document: Mapping[str, Any], base: KnownLanguages
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
