"""Bearer tokens of the legacy token service (``POST /sts/v1.0/issueToken``, AU3).

An HS256 JWT valid 600 s whose claims follow the one recorded legacy token (spec §6):
``scope``, ``product-id``, ``iss``, ``aud``, ``exp``, plus ``iat`` and ``subscription-id``.
The ``subscription-id`` is a keyed hash of the client key (HMAC under the token secret), so a
token that leaks from a URL or a log gives no handle on the key, not even an unsalted hash
to brute-force.

The signing key and the subscription-id key are both derived from the configured secret
(``--token-secret`` / ``SHIM_TOKEN_SECRET``), which keeps them apart and always 32 bytes
long. Without a secret a random per-process one is used: tokens then die with the process
and one replica does not accept another's, which the constructor logs as a warning.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

log = logging.getLogger(__name__)

TOKEN_TTL_S = 600
LEEWAY_S = 30
ALGORITHM = "HS256"
SCOPE = "https://dev.microsofttranslator.com/"
ISSUER = "urn:ms.cognitiveservices"
AUDIENCE = "urn:ms.microsofttranslator"
PRODUCT_ID = "SpeechTranslator.F0"  # the value of the recorded legacy token
SUBSCRIPTION_ID = "subscription-id"
MAX_TOKEN_CHARS = 4096  # ours are ~400; refuse to parse anything far larger
_REQUIRED = ["exp", "iat", "iss", "aud", "scope", SUBSCRIPTION_ID]


class InvalidToken(Exception):
    """Expired, badly signed, of another algorithm, or malformed. Deliberately vague."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str  # the token's subscription-id
    product_id: str
    issued_at: int
    expires_at: int


class TokenIssuer:
    """Mints and verifies tokens. ``clock`` only dates new tokens (tests mint expired ones);
    verification uses PyJWT's own clock with a 30 s leeway on ``exp``."""

    def __init__(
        self,
        secret: str | bytes | None = None,
        *,
        product_id: str = PRODUCT_ID,
        ttl_s: int = TOKEN_TTL_S,
        leeway_s: int = LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        self.shared = bool(secret)
        if not secret:
            secret = secrets.token_bytes(32)
            log.warning(
                "no token secret configured (--token-secret / SHIM_TOKEN_SECRET): using a "
                "random per-process secret, so tokens from /sts/v1.0/issueToken are not "
                "accepted by other replicas or after a restart"
            )
        self._signing_key = hmac.new(secret, b"shim/token-signing", hashlib.sha256).digest()
        self._subject_key = hmac.new(secret, b"shim/subscription-id", hashlib.sha256).digest()
        self.product_id = product_id
        self.ttl_s = ttl_s
        self.leeway_s = leeway_s
        self._clock = clock

    def subject_for(self, key_digest: bytes) -> str:
        """The ``subscription-id`` of a client key, from the key's SHA-256 digest."""
        return hmac.new(self._subject_key, key_digest, hashlib.sha256).hexdigest()[:32]

    def issue(self, subject: str) -> str:
        now = int(self._clock())
        claims: dict[str, Any] = {
            "scope": SCOPE,
            SUBSCRIPTION_ID: subject,
            "product-id": self.product_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.ttl_s,
        }
        return jwt.encode(claims, self._signing_key, algorithm=ALGORITHM)

    def verify(self, token: str) -> TokenClaims:
        """Accept only HS256 with our signature, ``aud``, ``iss``, ``scope`` and an ``exp``
        not past by more than the leeway. Raises :class:`InvalidToken`."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("malformed token")
        try:
            claims = jwt.decode(
                token,
                self._signing_key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self.leeway_s,
                options={"require": _REQUIRED},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        subject, product = claims.get(SUBSCRIPTION_ID), claims.get("product-id", "")
        if claims.get("scope") != SCOPE or not isinstance(subject, str) or not subject:
            raise InvalidToken("unexpected claims")
        return TokenClaims(
            subject=subject,
            product_id=str(product),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
        )
