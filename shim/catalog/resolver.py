"""The contract between the legacy request parser and whatever knows languages and voices."""

from __future__ import annotations

from typing import Protocol


class LanguageResolver(Protocol):
    """Normalises legacy ``from``/``to``/``voice`` values; raises ``UnsupportedValue``."""

    def normalize_from(self, value: str) -> str:
        """``en``, ``EN-us`` → ``en-US`` (a locale the backend recognises)."""
        ...

    def normalize_to(self, value: str) -> str:
        """``it-IT`` → ``it``, ``zh-HANS`` → ``zh-Hans`` (a Translator text code)."""
        ...

    def resolve_voice(self, voice: str, target_language: str) -> str:
        """Legacy id, neural short name or long form → a neural short name; empty → default."""
        ...
