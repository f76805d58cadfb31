"""The legacy ``GET /languages`` endpoint, sans-I/O: parse the request, build the document.

Shapes follow spec §5.2 (LG1–LG4): ``speech`` {name, language}, ``text`` {name, dir},
``tts`` {displayName, gender, locale, languageName, regionName, language}; only the requested
scopes; every ``speech[*].language`` and ``tts[*].language`` is a key of ``text`` (the
catalog guarantees it for both the legacy lists and today's catalog).

Localisation (LG4): the legacy service answered every name in the ``Accept-Language``
language. Names come from CLDR (:mod:`shim.catalog.names`): with ``Accept-Language: fr`` the
``text`` entry ``de`` is "allemand", the ``speech`` entry ``fr-CA`` "français (Canada)", a
``tts`` voice's ``languageName`` and ``regionName`` "allemand" and "Allemagne"; voice display
names are people's names and stay as they are. English, no header, or a language CLDR does
not know gives the catalog's English names; a code CLDR has no name for keeps its English one.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from shim.catalog.catalog import Catalog
from shim.catalog.names import LocalNames, local_names
from shim.legacy.errors import Failure, HandshakeError

API_VERSION = "1.0"
CURRENT_FLIGHT = "current"

Document = dict[str, dict[str, dict[str, str]]]


class Scope(enum.StrEnum):
    SPEECH = "speech"
    TEXT = "text"
    TTS = "tts"


_ORDER = (Scope.SPEECH, Scope.TEXT, Scope.TTS)


@dataclass(frozen=True)
class LanguagesRequest:
    scopes: tuple[Scope, ...]  # requested scopes, in the order speech, text, tts
    flight_current: bool  # ``flight=current``: today's catalog instead of the legacy lists
    accept_language: tuple[str, ...]  # language tags by preference (q > 0, ``*`` dropped)


def parse_languages_request(
    query: Iterable[tuple[str, str]], accept_language: str | None
) -> LanguagesRequest:
    """Validate the query (names in any case, first occurrence wins, unknown ones ignored).

    ``api-version`` must be ``1.0``; ``scope`` is a comma list of speech, text, tts in any
    case (default text); ``flight=current`` selects today's catalog and any other flight
    (the WPF sample's ``experimental``) is ignored. Raises ``HandshakeError`` (400).
    """
    params: dict[str, str] = {}
    for name, value in query:
        params.setdefault(name.strip().lower(), value)

    version = params.get("api-version", "").strip()
    if not version:
        raise _bad("api-version", "api-version: required parameter is missing; use 1.0")
    if version != API_VERSION:
        raise _bad("api-version", f"api-version: unsupported value {version!r}; use 1.0")

    wanted: set[Scope] = set()
    for item in params.get("scope", "").split(","):
        name = item.strip().lower()
        if not name:
            continue
        try:
            wanted.add(Scope(name))
        except ValueError:
            raise _bad(
                "scope",
                f"scope: unsupported value {item.strip()!r}; use a comma list of speech, text, tts",
            ) from None
    scopes = tuple(s for s in _ORDER if s in wanted) or (Scope.TEXT,)

    flights = {f.strip().lower() for f in params.get("flight", "").split(",")}
    return LanguagesRequest(
        scopes=scopes,
        flight_current=CURRENT_FLIGHT in flights,
        accept_language=parse_accept_language(accept_language),
    )


def parse_accept_language(header: str | None) -> tuple[str, ...]:
    """``fr-CH, fr;q=0.9, *;q=0.5`` → ``("fr-CH", "fr")``: by q, stable; malformed parts and
    ``q=0`` dropped (RFC 9110 §12.5.4)."""
    if not header:
        return ()
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, position, tag))
    return tuple(tag for _, _, tag in sorted(ranked))


def build_languages_document(
    catalog: Catalog, request: LanguagesRequest, current: bool
) -> Document:
    """The response body for ``request``; ``current`` selects today's catalog (the caller
    ORs ``request.flight_current`` with the server's own setting)."""
    text = catalog.text_languages(current)
    names = _Names(catalog, local_names(request.accept_language))
    document: Document = {}
    for scope in request.scopes:
        if scope is Scope.SPEECH:
            document["speech"] = {
                s.locale: {"name": names.locale(s.locale, s.name), "language": s.language}
                for s in catalog.speech_languages(current)
            }
        elif scope is Scope.TEXT:
            document["text"] = {
                t.code: {"name": names.language(t.code, t.name), "dir": t.dir} for t in text
            }
        else:
            document["tts"] = {
                v.id: {
                    "displayName": v.display_name,
                    "gender": v.gender.lower(),
                    "locale": v.locale,
                    "languageName": names.language(v.language, v.language_name),
                    "regionName": names.region(v.locale, v.region_name),
                    "language": v.language,
                }
                for v in catalog.tts_voices(current)
            }
    return document


class _Names:
    """A name in the display language where CLDR has one, else the catalog's English one."""

    def __init__(self, catalog: Catalog, local: LocalNames | None) -> None:
        self._catalog = catalog
        self._local = local

    def language(self, code: str, english: str) -> str:
        if self._local is None:
            return english
        # Retired codes (zh-CHS, tlh-Qaak) are named as the language they stand for today.
        today = self._catalog.text_code(code) or code
        return self._local.language(today) or self._local.language(code) or english

    def locale(self, locale: str, english: str) -> str:
        return (self._local.locale(locale) if self._local else None) or english

    def region(self, locale: str, english: str) -> str:
        _, _, region = locale.rpartition("-")
        return (self._local.region(region) if self._local and region else None) or english


def _bad(parameter: str, message: str) -> HandshakeError:
    return HandshakeError(Failure.BAD_PARAMETER, message, parameter=parameter)
