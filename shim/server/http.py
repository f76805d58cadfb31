"""What every plain HTTP endpoint of the server shares: headers, JSON bodies, errors, CORS.

Every response of ``/languages`` and ``/sts/v1.0/issueToken``, errors and CORS preflights
included, carries ``X-RequestId`` and ``Access-Control-Allow-Origin: *`` (browser apps call
these endpoints with XHR) and exposes ``X-RequestId`` to scripts (LG4, HS2). Refusals of the
WebSocket handshake use the same :func:`error_response`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shim.legacy.errors import LegacyError, http_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID = "X-RequestId"
ALLOWED_REQUEST_HEADERS = (
    "Accept-Language, Authorization, Content-Type, Ocp-Apim-Subscription-Key, "
    "X-ClientTraceId, X-CorrelationId, X-ClientVersion, X-OsPlatform, X-ClientAppId"
)


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
