"""The legacy handshake request: URL with every documented query parameter, and headers.

Real clients put the same values in different places (spec §1.2, §1.3, §6): the key as a
header or as ``subscription-key`` in the query, a token as ``Authorization: Bearer`` or as
``access_token``, trace ids as headers or query parameters. Each form is a separate code path
in a server, so the harness can produce each one on purpose.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from shim.harness.session.frame_client import websocket_url

Form = Literal["header", "query"]
CredentialKind = Literal["key", "token"]

PATH = "/speech/translate"
SECRET_PARAMETERS = frozenset({"subscription-key", "access_token"})
SECRET_HEADERS = frozenset({"ocp-apim-subscription-key", "authorization"})
MASK = "***"
"""What the harness shows and records instead of a credential
(``shim.redaction.redact_url(url, mask=MASK)`` for URLs)."""


@dataclass(frozen=True)
class Credential:
    """A subscription key or an access token; its value never appears in a repr."""

    kind: CredentialKind
    value: str = field(repr=False)

    def header(self) -> tuple[str, str]:
        if self.kind == "key":
            return "Ocp-Apim-Subscription-Key", self.value
        return "Authorization", f"Bearer {_bare_token(self.value)}"

    def query(self) -> tuple[str, str]:
        if self.kind == "key":
            return "subscription-key", self.value
        return "access_token", _bare_token(self.value)


def _bare_token(value: str) -> str:
    """``access_token`` carries the token without "Bearer " (spec §1.2)."""
    return value[7:] if value.lower().startswith("bearer ") else value


Pairs = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(values: Pairs | None) -> list[tuple[str, str]]:
    if values is None:
        return []
    return list(values.items() if isinstance(values, Mapping) else values)


def build_url(
    base_url: str,
    *,
    from_: str,
    to: str,
    features: str | Iterable[str] = (),
    voice: str | None = None,
    format: str | None = None,
    profanity_action: str | None = None,
    profanity_marker: str | None = None,
    extra_query: Pairs | None = None,
    credential: Credential | None = None,
    credential_form: Form = "header",
    client_info: Pairs | None = None,
    client_info_form: Form = "header",
    api_version: str | None = "1.0",
) -> str:
    """The ``ws(s)://…/speech/translate?…`` URL a legacy client opens.

    ``base_url`` may be a bare server URL (``http://127.0.0.1:5000``: the path is added) or a
    full endpoint URL, whose own query parameters win over the ones given here (so a URL
    copied from a client's log is sent as it was). None leaves a parameter out; an empty
    string sends it empty (``voice=`` as NOOP does). Slashes and commas stay unescaped, as
    clients send ``format=audio/wav`` and ``features=partial,texttospeech``. The credential
    and ``client_info`` (``X-ClientTraceId`` …) go into the query only for form "query";
    :func:`build_headers` takes them otherwise.
    """
    parts = urllib.parse.urlsplit(websocket_url(base_url))
    path = parts.path if parts.path not in ("", "/") else PATH
    own = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    feature_text = features if isinstance(features, str) else ",".join(features)
    ours: list[tuple[str, str | None]] = [
        ("api-version", api_version),
        ("from", from_),
        ("to", to),
        ("features", feature_text or None),
        ("voice", voice),
        ("format", format),
        ("ProfanityAction", profanity_action),
        ("ProfanityMarker", profanity_marker),
    ]
    if credential is not None and credential_form == "query":
        ours.append(credential.query())
    if client_info_form == "query":
        ours.extend(_pairs(client_info))
    ours.extend(_pairs(extra_query))
    taken = {name.lower() for name, _ in own}
    query = own + [(k, v) for k, v in ours if v is not None and k.lower() not in taken]
    encoded = urllib.parse.urlencode(query, safe="/,", quote_via=urllib.parse.quote)
    return urllib.parse.urlunsplit(parts._replace(path=path, query=encoded))


def build_headers(
    *,
    credential: Credential | None = None,
    credential_form: Form = "header",
    client_info: Pairs | None = None,
    client_info_form: Form = "header",
    extra_headers: Pairs | None = None,
) -> list[tuple[str, str]]:
    """The request headers matching :func:`build_url` called with the same forms."""
    headers: list[tuple[str, str]] = []
    if credential is not None and credential_form == "header":
        headers.append(credential.header())
    if client_info_form == "header":
        headers.extend(_pairs(client_info))
    headers.extend(_pairs(extra_headers))
    return headers


def requested_features(url: str) -> frozenset[str]:
    """The lower-cased ``features`` of a URL (parameter name in any case, HS7)."""
    parts = urllib.parse.urlsplit(url)
    found: set[str] = set()
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() == "features":
            found.update(item.strip().lower() for item in value.split(",") if item.strip())
    return frozenset(found)
