"""The one error mapping of the legacy protocol.

Every failure the server can meet is a :class:`Failure` member. One table turns it into
what a legacy client sees: an HTTP status before the WebSocket upgrade (with the JSON body
``{"error":{"code":…,"message":"…"}}``), or a WebSocket close code and reason after it.
Nothing else in the project picks status or close codes.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

# RFC 6455 §5.5: a control frame payload is at most 125 bytes, 2 of them the code.
MAX_CLOSE_REASON_BYTES = 123


class CloseCode(enum.IntEnum):
    """WebSocket close codes: the four the legacy service documented, and RFC 6455's 1002
    and 1007."""

    NORMAL = 1000  # only when every result the session owed was sent
    GOING_AWAY = 1001  # endpoint (temporarily) unavailable: the client may retry
    PROTOCOL_ERROR = 1002  # the client broke RFC 6455 (not in the legacy list: RFC 6455 §7.4.1)
    UNSUPPORTED_DATA = 1003  # invalid message type, audio without a proper header
    INVALID_DATA = 1007  # text that must be UTF-8 is not: a Close reason (RFC 6455 §7.4.1)
    INTERNAL_ERROR = 1011


class Failure(enum.Enum):
    # Handshake (HTTP status before the upgrade)
    BAD_PARAMETER = "bad_parameter"
    MISSING_CREDENTIALS = "missing_credentials"
    INVALID_CREDENTIALS = "invalid_credentials"
    TOO_MANY_SESSIONS = "too_many_sessions"
    UNSUPPORTED_LANGUAGE_PAIR = "unsupported_language_pair"
    SERVER_UNAVAILABLE = "server_unavailable"
    # Session (close code after the upgrade)
    COMPLETED = "completed"  # the client closed and got every result
    IDLE_TIMEOUT = "idle_timeout"
    LONG_SILENCE = "long_silence"
    SESSION_CAP = "session_cap"
    TEXT_FRAME = "text_frame"
    BAD_AUDIO_HEADER = "bad_audio_header"
    UNSUPPORTED_AUDIO_FORMAT = "unsupported_audio_format"
    PROTOCOL_ERROR = "protocol_error"
    INVALID_DATA = "invalid_data"  # a Close reason that is not UTF-8
    BACKEND_ERROR = "backend_error"
    BACKEND_THROTTLED = "backend_throttled"
    BACKEND_AUTH = "backend_auth"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    BACKEND_STALLED = "backend_stalled"  # no answer while results were owed
    RESULTS_INCOMPLETE = "results_incomplete"  # the flush ran out, or a final's TTS never ended
    SERVER_SHUTDOWN = "server_shutdown"
    # Session endings without a close frame: there is nobody left to send it to
    CLIENT_GONE = "client_gone"
    CLIENT_NOT_READING = "client_not_reading"
    INTERNAL = "internal"


@dataclass(frozen=True)
class HttpMapping:
    status: int
    code: int  # Translator-v3 style six-digit error code in the JSON body


@dataclass(frozen=True)
class CloseMapping:
    code: CloseCode


_HTTP: dict[Failure, HttpMapping] = {
    Failure.BAD_PARAMETER: HttpMapping(400, 400000),
    Failure.UNSUPPORTED_LANGUAGE_PAIR: HttpMapping(400, 400050),
    Failure.MISSING_CREDENTIALS: HttpMapping(401, 401000),
    Failure.INVALID_CREDENTIALS: HttpMapping(401, 401001),
    Failure.TOO_MANY_SESSIONS: HttpMapping(429, 429000),
    Failure.SERVER_UNAVAILABLE: HttpMapping(503, 503000),
    Failure.INTERNAL: HttpMapping(500, 500000),
}

_CLOSE: dict[Failure, CloseMapping] = {
    Failure.COMPLETED: CloseMapping(CloseCode.NORMAL),
    Failure.IDLE_TIMEOUT: CloseMapping(CloseCode.NORMAL),
    Failure.LONG_SILENCE: CloseMapping(CloseCode.NORMAL),
    Failure.SESSION_CAP: CloseMapping(CloseCode.NORMAL),
    Failure.TEXT_FRAME: CloseMapping(CloseCode.UNSUPPORTED_DATA),
    Failure.BAD_AUDIO_HEADER: CloseMapping(CloseCode.UNSUPPORTED_DATA),
    Failure.UNSUPPORTED_AUDIO_FORMAT: CloseMapping(CloseCode.UNSUPPORTED_DATA),
    Failure.PROTOCOL_ERROR: CloseMapping(CloseCode.PROTOCOL_ERROR),
    Failure.INVALID_DATA: CloseMapping(CloseCode.INVALID_DATA),
    Failure.BACKEND_ERROR: CloseMapping(CloseCode.INTERNAL_ERROR),
    Failure.BACKEND_AUTH: CloseMapping(CloseCode.INTERNAL_ERROR),
    Failure.BACKEND_STALLED: CloseMapping(CloseCode.INTERNAL_ERROR),
    Failure.RESULTS_INCOMPLETE: CloseMapping(CloseCode.INTERNAL_ERROR),
    Failure.BACKEND_THROTTLED: CloseMapping(CloseCode.GOING_AWAY),
    Failure.BACKEND_UNAVAILABLE: CloseMapping(CloseCode.GOING_AWAY),
    Failure.SERVER_SHUTDOWN: CloseMapping(CloseCode.GOING_AWAY),
    Failure.INTERNAL: CloseMapping(CloseCode.INTERNAL_ERROR),
}

# What each ending says when the caller gives no reason of its own (ER4: plain words, never
# backend details).
_DEFAULT_REASONS: dict[Failure, str] = {
    Failure.COMPLETED: "",
    Failure.IDLE_TIMEOUT: "no audio received: idle timeout",
    Failure.LONG_SILENCE: "long silence: no speech heard",
    Failure.SESSION_CAP: "session time limit reached",
    Failure.TEXT_FRAME: "text messages are not accepted: send audio as binary",
    Failure.PROTOCOL_ERROR: "WebSocket protocol error",
    Failure.INVALID_DATA: "invalid UTF-8 in a WebSocket frame",
    Failure.BACKEND_STALLED: "Speech backend stopped responding; results were lost",
    Failure.RESULTS_INCOMPLETE: "Speech backend did not deliver every result in time",
    Failure.SERVER_SHUTDOWN: "server shutting down",
    Failure.INTERNAL: "internal server error",
}

# A backend error of its own kind: it went quiet about speech it was given, or on past it,
# and a final never came (the session core's finals-owed rule, shim/legacy/watchdog.py).
FINALS_LOST_REASON = "Speech backend did not send every final; results were lost"

# Speech SDK CancellationErrorCode names (strings, so this module needs no SDK import).
_SDK_CANCELLATION: dict[str, Failure] = {
    "TooManyRequests": Failure.BACKEND_THROTTLED,
    "ServiceUnavailable": Failure.BACKEND_UNAVAILABLE,
    "AuthenticationFailure": Failure.BACKEND_AUTH,
    "Forbidden": Failure.BACKEND_AUTH,
    "ConnectionFailure": Failure.BACKEND_ERROR,
    "ServiceTimeout": Failure.BACKEND_ERROR,
    "ServiceError": Failure.BACKEND_ERROR,
    "BadRequest": Failure.BACKEND_ERROR,
    "RuntimeError": Failure.BACKEND_ERROR,
    "ServiceRedirectTemporary": Failure.BACKEND_UNAVAILABLE,
    "ServiceRedirectPermanent": Failure.BACKEND_ERROR,
    "EmbeddedModelError": Failure.BACKEND_ERROR,
}

# Reasons that never echo backend details (ER4): the SDK's error_details may carry URLs,
# session ids or key fragments, so the legacy client only ever sees these fixed texts.
_BACKEND_REASONS: dict[Failure, str] = {
    Failure.BACKEND_THROTTLED: "Speech backend is throttling requests; retry later",
    Failure.BACKEND_UNAVAILABLE: "Speech backend temporarily unavailable; retry later",
    Failure.BACKEND_AUTH: "Speech backend rejected the server's credentials",
    Failure.BACKEND_ERROR: "Speech backend error",
}


class LegacyError(Exception):
    """A failure with its client-facing message; :func:`http_error` or :func:`close_for` map it."""

    def __init__(self, failure: Failure, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message
        self.parameter = parameter


class HandshakeError(LegacyError):
    """Raised while parsing the upgrade request: answered with an HTTP status, no upgrade."""


class SessionError(LegacyError):
    """Raised after the upgrade: answered with a close code and reason."""


@dataclass(frozen=True)
class HttpError:
    status: int
    body: str  # compact JSON


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


def http_error(error: LegacyError) -> HttpError:
    mapping = _HTTP.get(error.failure, _HTTP[Failure.INTERNAL])
    body = {"error": {"code": mapping.code, "message": error.message}}
    return HttpError(mapping.status, json.dumps(body, separators=(",", ":"), ensure_ascii=False))


def close_for(failure: Failure, reason: str = "") -> Close:
    mapping = _CLOSE.get(failure, _CLOSE[Failure.INTERNAL])
    default = _BACKEND_REASONS.get(failure) or _DEFAULT_REASONS.get(failure, "")
    return Close(int(mapping.code), truncate_reason(reason or default))


def failure_for_cancellation(sdk_error_code: str) -> Failure:
    """The failure an SDK cancellation stands for, by ``CancellationErrorCode`` name."""
    return _SDK_CANCELLATION.get(sdk_error_code, Failure.BACKEND_ERROR)


def close_for_error(error: LegacyError) -> Close:
    return close_for(error.failure, error.message)


def truncate_reason(reason: str) -> str:
    data = reason.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return data[:MAX_CLOSE_REASON_BYTES].decode("utf-8", errors="ignore")
