"""Credentials out of URLs, defined once for the server's logs and the harness's output.

The names are every place legacy clients and Azure carry a key or token in a query or a
header. Only values are replaced; the rest of the URL is left exactly as it was (not
re-encoded), so a redacted URL still shows what the client sent. A neutral module (it imports
nothing from ``shim``): the harness may use it without importing the server it judges.
"""

from __future__ import annotations

import urllib.parse

REDACTED = "REDACTED"

SECRET_NAMES = frozenset(
    {
        "subscription-key",
        "ocp-apim-subscription-key",
        "access_token",
        "authorization",
        "key",
        "token",
    }
)
"""Query parameter and header names (lower case) whose values are credentials."""


def redact_url(url: str, mask: str = REDACTED) -> str:
    """``/x?Subscription-Key=abc&to=de`` → ``/x?Subscription-Key=REDACTED&to=de``.

    ``url`` may be a path with a query or a whole URL; names match in any case and
    percent-encoded (``subscription%2Dkey``)."""
    path, sep, query = url.partition("?")
    if not sep:
        return url
    query, hash_, fragment = query.partition("#")
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        if eq and urllib.parse.unquote_plus(name).lower() in SECRET_NAMES:
            part = f"{name}={mask}"
        parts.append(part)
    return f"{path}?{'&'.join(parts)}{hash_}{fragment}"
