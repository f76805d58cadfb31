"""Credentials: client keys, legacy bearer tokens, auth modes and per-key session limits.

Pure (no aiohttp): the edge extracts the credential, this package decides.
"""

from shim.auth.authenticator import (
    Authenticator,
    AuthMode,
    Grant,
    SessionSlot,
)
from shim.auth.keys import BackendCredentials, ClientKey, ClientKeys, KeyFileError, fingerprint
from shim.auth.tokens import InvalidToken, TokenClaims, TokenIssuer

__all__ = [
    "AuthMode",
    "Authenticator",
    "BackendCredentials",
    "ClientKey",
    "ClientKeys",
    "Grant",
    "InvalidToken",
    "KeyFileError",
    "SessionSlot",
    "TokenClaims",
    "TokenIssuer",
    "fingerprint",
]
