"""``GET /languages`` (LG1–LG4) on aiohttp; the request and document logic is sans-I/O in
:mod:`shim.legacy.languages`.

The path is matched case-insensitively (the WPF sample asks for ``/Languages``) with a
regex route rather than a list of spellings. Every response, errors and CORS preflights
included, carries ``X-RequestId`` and ``Access-Control-Allow-Origin: *`` (browser apps call
these endpoints with XHR) and exposes ``X-RequestId`` to scripts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

from aiohttp import web

from shim.catalog.catalog import Catalog
from shim.catalog.served import AnyLanguage, PairCheck, served_catalog
from shim.legacy.errors import LegacyError, http_error
from shim.legacy.languages import build_languages_document, parse_languages_request

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LANGUAGES_PATH = "/{languages:(?i:languages)}"
REQUEST_ID = "X-RequestId"
ALLOWED_REQUEST_HEADERS = (
    "Accept-Language, Authorization, Content-Type, Ocp-Apim-Subscription-Key, "
    "X-ClientTraceId, X-CorrelationId, X-ClientVersion, X-OsPlatform, X-ClientAppId"
)


class CatalogSource(Protocol):
    """A :class:`Catalog` itself, or a :class:`~shim.catalog.live.LiveCatalog`."""

    def current(self) -> Catalog: ...


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


def common_headers() -> dict[str, str]:
    """Headers on every response of these endpoints (LG4, HS2's request id)."""
    return {
        REQUEST_ID: uuid.uuid4().hex,
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": REQUEST_ID,
    }


def json_response(body: Any, status: int = 200, **headers: str) -> web.Response:
    """Compact JSON, ``application/json; charset=utf-8``, with the common headers."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return raw_json_response(text, status, **headers)


def raw_json_response(text: str, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        text=text,
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers={**common_headers(), **headers},
    )


def error_response(error: LegacyError) -> web.Response:
    """The one error mapping (:func:`shim.legacy.errors.http_error`) as an HTTP response."""
    mapped = http_error(error)
    return raw_json_response(mapped.body, mapped.status)


def preflight_handler(methods: str) -> Handler:
    """CORS preflight: allow any origin, ``methods`` and the headers legacy clients send."""

    async def preflight(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=204,
            headers={
                **common_headers(),
                "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )

    return preflight


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
    handler = languages_handler(catalog_source, current_by_default=current_by_default)
    resource = app.router.add_resource(LANGUAGES_PATH, name="legacy-languages")
    resource.add_route("GET", handler)
    resource.add_route("OPTIONS", preflight_handler("GET, OPTIONS"))
