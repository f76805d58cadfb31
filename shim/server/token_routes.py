"""``POST /sts/v1.0/issueToken`` (AU3) on aiohttp.

The key comes from the ``Ocp-Apim-Subscription-Key`` header or the ``Subscription-Key``
query parameter (any case; the header wins). It is judged by the same
:class:`~shim.auth.Authenticator` as ``/speech/translate``, so a key that may not open a
session gets no token either. The answer is the JWT as ``text/plain``; refusals are the JSON
401 of the one error mapping. Neither the key nor the token is ever logged (AU4).
"""

from __future__ import annotations

import logging

from aiohttp import web

from shim.auth import Authenticator, TokenIssuer
from shim.legacy.errors import Failure, HandshakeError, LegacyError
from shim.legacy.request import Credential
from shim.server.http import Handler, common_headers, error_response, preflight_handler

log = logging.getLogger(__name__)

ISSUE_TOKEN_PATH = "/{sts:(?i:sts)}/{version:(?i:v1\\.0)}/{issue:(?i:issuetoken)}"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
KEY_QUERY = "subscription-key"
MISSING_KEY_MESSAGE = (
    "Missing subscription key: send the Ocp-Apim-Subscription-Key header "
    "or the Subscription-Key query parameter"
)


def issue_token_handler(authenticator: Authenticator, token_issuer: TokenIssuer) -> Handler:
    async def issue_token(request: web.Request) -> web.StreamResponse:
        key = request.headers.get(KEY_HEADER, "").strip()
        credential = Credential("key", key, "header")
        if not key:
            key = next((v.strip() for k, v in request.query.items() if k.lower() == KEY_QUERY), "")
            credential = Credential("key", key, "query")
        try:
            if not key:
                raise HandshakeError(Failure.MISSING_CREDENTIALS, MISSING_KEY_MESSAGE)
            grant = authenticator.authenticate(credential)
        except LegacyError as error:
            log.info("issueToken refused: %s", error.failure.value)
            return error_response(error)
        token = token_issuer.issue(grant.subject)
        log.info("issueToken: token issued for %s", grant.log_label)
        return web.Response(
            text=token,
            content_type="text/plain",
            charset="utf-8",
            headers={**common_headers(), "Cache-Control": "no-store"},
        )

    return issue_token


def add_token_routes(
    app: web.Application, authenticator: Authenticator, token_issuer: TokenIssuer
) -> None:
    """Register ``POST /sts/v1.0/issueToken`` (any case) and its CORS preflight.
    ``token_issuer`` must be the one ``authenticator`` verifies tokens with."""
    if authenticator.issuer is not token_issuer:
        raise ValueError("the token issuer must be the authenticator's own")
    resource = app.router.add_resource(ISSUE_TOKEN_PATH, name="legacy-issue-token")
    resource.add_route("POST", issue_token_handler(authenticator, token_issuer))
    resource.add_route("OPTIONS", preflight_handler("POST, OPTIONS"))
