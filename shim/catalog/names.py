"""Names of languages, locales and regions in a client's language, from CLDR.

The data comes from Babel, which ships the Unicode CLDR tables on PyPI: every language the
catalog lists has a name in every CLDR locale that knows it (``Accept-Language: fr`` gives
"allemand" for ``de`` and "chinois simplifié" for ``zh-Hans``). Where CLDR has no name (a few
Translator codes such as ``otq``), the caller keeps its English one.
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


@lru_cache(maxsize=256)  # keyed by client headers: bounded
def display_locale(tags: tuple[str, ...]) -> Locale | None:
    """The first ``Accept-Language`` tag CLDR has names in, or ``None`` for English (the
    catalog's own names) and for tags it does not know."""
    for tag in tags:
        locale = _parse(tag) or _parse(tag.split("-")[0])
        if locale is not None and locale.languages:
            return None if locale.language == "en" else locale
    return None


class LocalNames:
    """Names in one display locale; each method returns ``None`` where CLDR has none."""

    def __init__(self, display: Locale) -> None:
        self.display = display

    def language(self, code: str) -> str | None:
        """``de`` → "allemand", ``zh-Hans`` → "chinois simplifié", ``sr-Cyrl`` → "serbe
        (cyrillique)" (in French)."""
        names = self.display.languages
        tag = code.replace("-", "_")
        if tag in names:
            return str(names[tag])
        parsed = _parse(code)
        if parsed is not None:
            name = parsed.get_display_name(self.display)
            if name:
                return str(name)
        primary, _, script = code.partition("-")
        base = names.get(primary)
        if base is None:
            return None
        script_name = self.display.scripts.get(script) if script else None
        return f"{base} ({script_name})" if script_name else str(base)

    def locale(self, locale: str) -> str | None:
        """``fr-CA`` → "français (Canada)", ``en-US`` → "anglais (États-Unis)"."""
        parsed = _parse(locale)
        name = parsed.get_display_name(self.display) if parsed is not None else None
        if name:
            return str(name)
        primary, _, region = locale.partition("-")
        language = self.language(primary)
        region_name = self.region(region) if region else None
        if language and region_name:
            return f"{language} ({region_name})"
        return language

    def region(self, code: str) -> str | None:
        """``US`` → "États-Unis"."""
        name = self.display.territories.get(code.upper())
        return str(name) if name else None


@lru_cache(maxsize=256)  # keyed by client headers: bounded
def local_names(tags: tuple[str, ...]) -> LocalNames | None:
    """Names for the first usable ``Accept-Language`` tag, ``None`` for the catalog's English."""
    display = display_locale(tags)
    return LocalNames(display) if display is not None else None
