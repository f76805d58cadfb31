"""Languages and voices: data and normalisation (the legacy parser's ``LanguageResolver``)."""

from shim.catalog.catalog import Catalog, CatalogSource
from shim.catalog.errors import UnsupportedValue
from shim.catalog.payloads import parse_translator_languages, parse_voices_list
from shim.catalog.records import (
    LegacyVoice,
    NeuralVoice,
    SpeechLanguage,
    SpeechLocale,
    TextLanguage,
    TtsVoice,
)
from shim.catalog.resolver import LanguageResolver

__all__ = [
    "Catalog",
    "CatalogSource",
    "LanguageResolver",
    "LegacyVoice",
    "NeuralVoice",
    "SpeechLanguage",
    "SpeechLocale",
    "TextLanguage",
    "TtsVoice",
    "UnsupportedValue",
    "parse_translator_languages",
    "parse_voices_list",
]
