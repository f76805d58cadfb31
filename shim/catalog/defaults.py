"""The data's default rules: a locale's default voice, a same-gender fallback, a default locale.

They are the documented rules of ``shim/data/azure-speech-catalog.json``, applied again when
live voices replace the bundled ones (:meth:`~shim.catalog.catalog.Catalog.from_sources`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shim.catalog.records import NeuralVoice
from shim.catalog.tags import region


def locale_default(members: Sequence[NeuralVoice]) -> str:
    """The data's rule: first eligible female, else first eligible, else first non-HD."""
    eligible = [v for v in members if v.default_eligible]
    non_hd = [v for v in members if not v.hd]
    for pool in (eligible, non_hd, list(members)):
        female = [v for v in pool if v.gender == "female"]
        if female or pool:
            return (female or pool)[0].short_name
    raise ValueError("a locale without voices has no default")


def gender_default(members: Sequence[NeuralVoice], gender: str) -> str | None:
    same = [v for v in members if v.default_eligible and v.gender == gender]
    if same:
        return same[0].short_name
    return locale_default(members) if members else None


def pick_locale(
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
        if region(locale) == primary.upper():
            return locale
    for locale in ordered:
        if locale in legacy_locales:
            return locale
    preferred = [loc for loc in ordered if prefer and loc in prefer]
    return (preferred or ordered)[0]
