"""The catalog's records: speech locales, text languages, voices, and the legacy lists' entries.

Immutable values only; :class:`~shim.catalog.catalog.Catalog` holds them and answers lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

Direction = Literal["ltr", "rtl"]


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


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: it is large
class CatalogData:
    """Everything the catalog knows, as the bundled file has it: its eight parts, named once.

    :class:`~shim.catalog.catalog.Catalog` is this data with its lookups."""

    speech_locales: tuple[SpeechLocale, ...]
    text: tuple[TextLanguage, ...]
    voices: tuple[NeuralVoice, ...]
    default_voice_per_locale: Mapping[str, str]
    default_voice_per_language: Mapping[str, str]
    legacy_speech: tuple[SpeechLanguage, ...]
    legacy_text: tuple[TextLanguage, ...]
    legacy_voices: tuple[LegacyVoice, ...]

    def parts(self) -> dict[str, Any]:
        """The eight parts by name (shallow: the records themselves, not copies)."""
        return {part.name: getattr(self, part.name) for part in fields(CatalogData)}
