"""A language pair an endpoint serves: what ``/languages`` advertises, confirmed by a handshake.

``/languages`` (spec §5) lists speech locales and text languages separately, not the pairs a
server can translate between, and a server may list more than its backend serves (the
embedded offline engines translate a handful of pairs and refuse the rest with HTTP 400 at
the handshake). So candidate pairs are taken from the document in order of preference and
each is tried with a real handshake (closed at once) until one is upgraded. Every step is
recorded in :attr:`PairChoice.tried`, so the user sees why a pair was chosen or why none was.
"""

from __future__ import annotations

import asyncio
import json
import ssl as ssl_module
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import InvalidURI

from shim.harness.session.frame_client import HandshakeError, HandshakeRefused, connect
from shim.harness.session.request import Credential, build_headers, build_url

PREFERRED_SPEECH = ("en-US",)  # the demo sentence and most test audio are English
PREFERRED_TEXT = ("de", "es", "fr", "it", "pt")
MAX_HANDSHAKES = 12
MAX_DOCUMENT_BYTES = 4 * 2**20


class PairUnavailable(Exception):
    """No pair can be chosen; ``reachable`` is False when the server could not be reached."""

    def __init__(self, message: str, *, reachable: bool = True) -> None:
        super().__init__(message)
        self.reachable = reachable


@dataclass
class PairChoice:
    from_: str
    to: str
    how: str  # "given", "accepted" (a handshake was upgraded) or "unchecked"
    tried: list[str] = field(default_factory=list)  # "en-US → de: HTTP 400 …" per attempt

    def describe(self) -> str:
        pair = f"{self.from_} → {self.to}"
        if self.how == "given":
            return f"{pair} (given)"
        refused = [t for t in self.tried if not t.endswith(": accepted")]
        also = f"; refused first: {'; '.join(refused)}" if refused else ""
        if self.how == "accepted":
            return f"{pair} (advertised by /languages, accepted by the server{also})"
        return f"{pair} (advertised by /languages, not confirmed: {self.tried[-1]})"


def languages_url(endpoint: str) -> str:
    """``/languages`` next to the endpoint: ``ws://h/speech/translate`` → ``http://h/languages``."""
    parts = urllib.parse.urlsplit(endpoint)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    path = parts.path.rstrip("/")
    if path.lower().endswith("/speech/translate"):
        path = path[: -len("/speech/translate")]
    query = "api-version=1.0&scope=speech,text"
    return urllib.parse.urlunsplit((scheme, parts.netloc, f"{path}/languages", query, ""))


def _get(url: str, ssl: ssl_module.SSLContext | None, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout, context=ssl) as response:
        body: bytes = response.read(MAX_DOCUMENT_BYTES + 1)
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"more than {MAX_DOCUMENT_BYTES} bytes")
    return body


async def advertised(
    endpoint: str, *, ssl: ssl_module.SSLContext | None = None, timeout: float = 10.0
) -> tuple[list[str], list[str]]:
    """The speech locales and text languages ``/languages`` lists, in document order."""
    url = languages_url(endpoint)
    try:
        body = await asyncio.to_thread(_get, url, ssl, timeout)
    except urllib.error.HTTPError as exc:
        raise PairUnavailable(
            f"GET {url} answered HTTP {exc.code}: the endpoint has no /languages"
        ) from exc
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        raise PairUnavailable(f"GET {url} failed: {reason}", reachable=False) from exc
    except ValueError as exc:
        raise PairUnavailable(f"GET {url}: {exc}") from exc
    try:
        document: Any = json.loads(body)
    except ValueError as exc:
        raise PairUnavailable(f"GET {url} did not answer JSON") from exc
    if not isinstance(document, dict):
        raise PairUnavailable(f"GET {url} did not answer a JSON object")
    speech, text = document.get("speech"), document.get("text")
    found = (
        [str(k) for k in speech] if isinstance(speech, dict) else [],
        [str(k) for k in text] if isinstance(text, dict) else [],
    )
    missing = [name for name, keys in zip(("speech", "text"), found, strict=True) if not keys]
    if missing:
        raise PairUnavailable(f"GET {url} advertises no {' and no '.join(missing)} languages")
    return found


def _language(tag: str) -> str:
    return tag.split("-")[0].split("_")[0].lower()


def _ordered(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    rank = {value.lower(): index for index, value in enumerate(preferred)}
    return sorted(values, key=lambda value: rank.get(value.lower(), len(rank)))


def candidates(
    speech: Sequence[str],
    text: Sequence[str],
    *,
    from_: str | None = None,
    to: str | None = None,
) -> list[tuple[str, str]]:
    """Pairs to try, most likely first: a given ``from_``/``to`` is kept; English speech
    first (the demo sentence's language); targets in another language than the speech,
    the common ones first."""
    sources = [from_] if from_ else _ordered(speech, PREFERRED_SPEECH)
    pairs = []
    for source in sources:
        targets = [to] if to else _ordered(text, PREFERRED_TEXT)
        pairs += [(source, t) for t in targets if to or _language(t) != _language(source)]
    return pairs


async def _try(
    endpoint: str,
    pair: tuple[str, str],
    credential: Credential | None,
    features: str,
    ssl: ssl_module.SSLContext | None,
    timeout: float,
) -> tuple[bool | None, str]:
    """(True: upgraded, False: refused for the pair, None: refused for another reason or
    unreachable, so trying more pairs will not help), and what happened."""
    url = build_url(endpoint, from_=pair[0], to=pair[1], features=features)
    try:
        headers = build_headers(credential=credential)
        connection = await connect(url, headers, ssl=ssl, timeout=timeout)
    except (OSError, TimeoutError, HandshakeError, InvalidURI) as exc:
        return None, f"could not connect: {exc or type(exc).__name__}"
    if isinstance(connection, HandshakeRefused):
        verdict = False if connection.status == 400 else None
        return verdict, f"HTTP {connection.status}: {connection.message}"[:200]
    connection.send_close(1000)
    await connection.wait_closed(timeout)
    return True, "accepted"


async def choose_pair(
    endpoint: str,
    credential: Credential | None,
    *,
    from_: str | None = None,
    to: str | None = None,
    features: str = "partial,texttospeech",
    ssl: ssl_module.SSLContext | None = None,
    timeout: float = 10.0,
    max_handshakes: int = MAX_HANDSHAKES,
) -> PairChoice:
    """The pair to run sessions with: ``from_`` and ``to`` when both are given, else the
    first advertised candidate the endpoint upgrades (HTTP 400 means "not this pair": try
    the next). A refusal that is not about the pair (401, 429 …) stops the search and
    keeps the first candidate, unconfirmed, so the run shows the real problem."""
    if from_ and to:
        return PairChoice(from_, to, "given")
    speech, text = await advertised(endpoint, ssl=ssl, timeout=timeout)
    pairs = candidates(speech, text, from_=from_, to=to)
    if not pairs:
        raise PairUnavailable(f"/languages advertises no pair for from={from_} to={to}")
    tried: list[str] = []
    for pair in pairs[:max_handshakes]:
        verdict, what = await _try(endpoint, pair, credential, features, ssl, timeout)
        tried.append(f"{pair[0]} → {pair[1]}: {what}")
        if verdict is True:
            return PairChoice(*pair, "accepted", tried)
        if verdict is None:
            return PairChoice(*pairs[0], "unchecked", tried)
    more = f" (of {len(pairs)} advertised)" if len(pairs) > max_handshakes else ""
    raise PairUnavailable(f"the server refused every pair tried{more}: {'; '.join(tried)}")
