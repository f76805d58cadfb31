"""``GET /languages`` (LG1–LG4) on aiohttp; the request and document logic is sans-I/O in
:mod:`shim.legacy.languages`.

The path is matched case-insensitively (the WPF sample asks for ``/Languages``) with a
regex route rather than a list of spellings; headers, errors and CORS preflights are the
server's shared ones (:mod:`shim.server.http`).
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from shim.catalog.catalog import Catalog, CatalogSource
from shim.catalog.served import AnyLanguage, PairCheck, served_catalog
from shim.legacy.errors import LegacyError
from shim.legacy.languages import build_languages_document, parse_languages_request
from shim.server.http import Handler, error_response, json_response, preflight_handler

LANGUAGES_PATH = "/{languages:(?i:languages)}"


class ServedLanguages:
    """What ``/languages`` lists: the source's catalog, or, once the speech backend's engines
    are known (:meth:`serve_only`), only what they serve (:func:`served_catalog`). The cut is
    computed once per catalog the source hands out."""

    def __init__(self, source: CatalogSource) -> None:
        self._source = source
        self._served: tuple[PairCheck, Collection[str] | AnyLanguage] | None = None
        self._cut: tuple[Catalog, Catalog] | None = None

    def serve_only(self, supports: PairCheck, synthesis: Collection[str] | AnyLanguage) -> None:
        self._served = (supports, synthesis)
        self._cut = None

    def current(self) -> Catalog:
        catalog = self._source.current()
        if self._served is None:
            return catalog
        if self._cut is None or self._cut[0] is not catalog:
            self._cut = (catalog, served_catalog(catalog, *self._served))
        return self._cut[1]


def languages_handler(
    catalog_source: CatalogSource, *, current_by_default: bool = False
) -> Handler:
    """``current_by_default`` (a server flag) serves today's catalog even without
    ``flight=current``."""

    async def languages(request: web.Request) -> web.StreamResponse:
        try:
            parsed = parse_languages_request(
                request.query.items(), request.headers.get("Accept-Language")
            )
        except LegacyError as error:
            return error_response(error)
        current = current_by_default or parsed.flight_current
        document = build_languages_document(catalog_source.current(), parsed, current)
        return json_response(document, Vary="Accept-Language")

    return languages


def add_languages_routes(
    app: web.Application, catalog_source: CatalogSource, *, current_by_default: bool = False
) -> None:
    """Register ``GET /languages`` (any case) and its CORS preflight."""
    handler = languages_handler(catalog_source, current_by_default=current_by_default)
    resource = app.router.add_resource(LANGUAGES_PATH, name="legacy-languages")
    resource.add_route("GET", handler)
    resource.add_route("OPTIONS", preflight_handler("GET, OPTIONS"))
