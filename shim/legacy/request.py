"""Parse the legacy ``/speech/translate`` upgrade request into a :class:`SessionRequest`.

Sans-I/O: takes the decoded query pairs and the request headers, returns a value or raises
:class:`~shim.legacy.errors.HandshakeError` (answered with HTTP 400/401 before the upgrade).
Real clients are sloppy (``en-us``, ``profanityaction``, ``voice=``, ``format=``, extra
parameters), so everything that is not required is parsed tolerantly (HS3).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from shim.catalog.errors import UnsupportedValue
from shim.catalog.resolver import LanguageResolver
from shim.legacy.errors import Failure, HandshakeError

API_VERSION = "1.0"

# Documented for X-CorrelationId (reference, "Request headers"). Written without `$`, which
# would also match before a trailing newline; used with fullmatch.
_CORRELATION_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class Feature(enum.Enum):
    """Values of the ``features`` parameter; finals are always sent, so there is no FINAL."""

    PARTIAL = "Partial"
    TEXT_TO_SPEECH = "TextToSpeech"
    TIMING_INFO = "TimingInfo"


class AudioFormat(enum.StrEnum):
    """``format``: the encoding of the TTS binary messages."""

    WAV = "audio/wav"
    MP3 = "audio/mp3"


# Legacy ProfanityAction × ProfanityMarker, flattened into what the backend offers.
Profanity = Literal["Raw", "Removed", "Masked", "Tagged"]

_PROFANITY_ACTIONS = {"noaction": "NoAction", "marked": "Marked", "deleted": "Deleted"}
_PROFANITY_MARKERS = {"asterisk": "Asterisk", "tag": "Tag"}


@dataclass(frozen=True)
class Credential:
    """What the client authenticated with (the handshake, or issueToken's key), as
    :class:`~shim.auth.Authenticator` judges it. ``value`` is secret: never in repr (AU4)."""

    kind: Literal["key", "token"]
    value: str
    source: Literal["header", "query"] = "header"

    def __repr__(self) -> str:
        return f"Credential(kind={self.kind!r}, source={self.source!r}, value=<redacted>)"


@dataclass(frozen=True)
class SessionRequest:
    """Everything a legacy session asked for, normalised."""

    source_locale: str  # e.g. "en-US": what the recognizer listens to
    target_language: str  # Translator text code, e.g. "zh-Hans"
    target_as_sent: str  # the raw `to` value, for logs
    features: frozenset[Feature]
    voice: str | None  # backend voice name; None when TextToSpeech is off and none was asked
    audio_format: AudioFormat
    profanity: Profanity
    credential: Credential
    client_trace_id: str | None = None
    correlation_id: str | None = None
    client_version: str | None = None
    os_platform: str | None = None

    @property
    def partial(self) -> bool:
        return Feature.PARTIAL in self.features

    @property
    def text_to_speech(self) -> bool:
        return Feature.TEXT_TO_SPEECH in self.features

    @property
    def timing_info(self) -> bool:
        return Feature.TIMING_INFO in self.features

    # The dataclass repr would already go through Credential.__repr__; being explicit keeps a
    # future field change from leaking the secret.
    def __repr__(self) -> str:
        features = ",".join(sorted(f.value for f in self.features))
        return (
            f"SessionRequest(from={self.source_locale!r}, to={self.target_language!r}, "
            f"to_as_sent={self.target_as_sent!r}, features={features!r}, voice={self.voice!r}, "
            f"format={self.audio_format.value!r}, profanity={self.profanity!r}, "
            f"credential={self.credential!r}, client_trace_id={self.client_trace_id!r}, "
            f"correlation_id={self.correlation_id!r}, client_version={self.client_version!r}, "
            f"os_platform={self.os_platform!r})"
        )


def parse_request(
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    resolver: LanguageResolver,
) -> SessionRequest:
    """Validate and normalise one upgrade request (HS3–HS8, AU1, AU2).

    Credentials are checked first (401 before 400), as the Azure API gateway did: a client
    with no key learns that before anything about its parameters.
    """
    params = _first_by_lower_name(query)
    head = _first_by_lower_name(headers.items())

    credential = _credential(params, head)

    api_version = params.get("api-version", "").strip()
    if not api_version:
        raise _bad("api-version", "api-version: required; use api-version=1.0")
    if api_version != API_VERSION:
        raise _bad("api-version", f"api-version: unsupported value {api_version!r}; use 1.0")

    raw_from = _required(params, "from")
    raw_to = _required(params, "to")
    source_locale = _resolve("from", raw_from, resolver.normalize_from)
    target_language = _resolve("to", raw_to, resolver.normalize_to)

    features = _features(params.get("features", ""))
    voice = _voice(params.get("voice", "").strip(), target_language, features, resolver)

    return SessionRequest(
        source_locale=source_locale,
        target_language=target_language,
        target_as_sent=raw_to,
        features=features,
        voice=voice,
        audio_format=_audio_format(params.get("format", "")),
        profanity=_profanity(
            params.get("profanityaction", ""),
            params.get("profanitymarker", ""),
        ),
        credential=credential,
        client_trace_id=_header_or_query(head, params, "x-clienttraceid"),
        # Checked as sent against the documented pattern: no silent trimming of an id that
        # ties sessions together.
        correlation_id=_correlation_id(
            _header_or_query(head, params, "x-correlationid", trim=False)
        ),
        client_version=_header_or_query(head, params, "x-clientversion"),
        os_platform=_header_or_query(head, params, "x-osplatform"),
    )


def _first_by_lower_name(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Names folded to lower case; the first occurrence of a repeated name wins."""
    folded: dict[str, str] = {}
    for name, value in pairs:
        folded.setdefault(name.lower(), value)
    return folded


def _bad(parameter: str, message: str) -> HandshakeError:
    return HandshakeError(Failure.BAD_PARAMETER, message, parameter=parameter)


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise _bad(name, f"{name}: required parameter is missing or empty")
    return value


def _resolve(parameter: str, value: str, normalize: Callable[[str], str]) -> str:
    try:
        return normalize(value)
    except UnsupportedValue as exc:
        raise _unsupported(parameter, value, exc.hint) from None


def _unsupported(parameter: str, value: str, hint: str | None) -> HandshakeError:
    message = f"{parameter}: unsupported value {value!r}"
    if hint:
        message += f" (closest supported: {hint!r})"
    return _bad(parameter, message)


def _features(raw: str) -> frozenset[Feature]:
    """Comma list, any case; unknown names are ignored because real clients vary (HS7)."""
    known = {feature.value.lower(): feature for feature in Feature}
    items = (item.strip().lower() for item in raw.split(","))
    return frozenset(known[item] for item in items if item in known)


def _voice(
    raw: str, target_language: str, features: frozenset[Feature], resolver: LanguageResolver
) -> str | None:
    """A given voice is always validated; an empty one is only resolved when TTS is on (TS5)."""
    if not raw and Feature.TEXT_TO_SPEECH not in features:
        return None
    try:
        return resolver.resolve_voice(raw, target_language)
    except UnsupportedValue as exc:
        if raw:
            raise _unsupported("voice", raw, exc.hint) from None
        raise _bad(
            "voice", f"voice: no default voice for to={target_language!r}; pass a voice"
        ) from None


def _audio_format(raw: str) -> AudioFormat:
    value = raw.strip().lower()
    if not value:  # `format=` is sent by real clients and means the default
        return AudioFormat.WAV
    try:
        return AudioFormat(value)
    except ValueError:
        raise _bad(
            "format", f"format: unsupported value {raw!r}; use audio/wav or audio/mp3"
        ) from None


def _profanity(raw_action: str, raw_marker: str) -> Profanity:
    action = _choice("ProfanityAction", raw_action, _PROFANITY_ACTIONS, default="Marked")
    marker = _choice("ProfanityMarker", raw_marker, _PROFANITY_MARKERS, default="Asterisk")
    if action == "NoAction":
        return "Raw"
    if action == "Deleted":
        return "Removed"
    return "Tagged" if marker == "Tag" else "Masked"


def _choice(name: str, raw: str, choices: Mapping[str, str], default: str) -> str:
    value = raw.strip().lower()
    if not value:
        return default
    if value not in choices:
        allowed = ", ".join(choices.values())
        raise _bad(name, f"{name}: unsupported value {raw!r}; use one of {allowed}")
    return choices[value]


def _header_or_query(
    head: Mapping[str, str], params: Mapping[str, str], name: str, *, trim: bool = True
) -> str | None:
    """The header wins over the query (reference); blank values count as absent."""
    for source in (head, params):
        value = source.get(name, "")
        if value.strip():
            return value.strip() if trim else value
    return None


def _correlation_id(value: str | None) -> str | None:
    if value is not None and not _CORRELATION_ID.fullmatch(value):
        raise _bad(
            "X-CorrelationId",
            "X-CorrelationId: must be 1-64 characters of letters, digits, '-', '_' or '.'",
        )
    return value


def _credential(params: Mapping[str, str], head: Mapping[str, str]) -> Credential:
    """Headers before the query; a bearer token before a key (the key header is documented as
    required only when Authorization is absent). Empty values count as missing (AU1, AU2)."""
    token = _bearer(head.get("authorization", ""))
    if token:
        return Credential("token", token, "header")
    key = head.get("ocp-apim-subscription-key", "").strip()
    if key:
        return Credential("key", key, "header")
    token = _bearer(params.get("access_token", ""), prefix_optional=True)
    if token:
        return Credential("token", token, "query")
    key = params.get("subscription-key", "").strip()
    if key:
        return Credential("key", key, "query")
    raise HandshakeError(
        Failure.MISSING_CREDENTIALS,
        "Missing credentials: send Ocp-Apim-Subscription-Key or Authorization: Bearer <token>",
    )


def _bearer(raw: str, *, prefix_optional: bool = False) -> str:
    """The token of ``Bearer <token>``; other schemes give "". ``access_token`` is documented
    without the prefix, but a client that adds it is still understood."""
    scheme, _, rest = raw.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    return raw.strip() if prefix_optional else ""
