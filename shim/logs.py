"""Logging for every command: text or JSON lines, an access log, secrets redacted.

* :func:`configure_logging` installs one handler on the root logger, writing to standard
  error (from a writer thread: :mod:`shim.logsink`) as ``text``
  (``time LEVEL logger: message key=value …``) or ``json`` (one object per line; field
  names in docs/operations.md). Fields a caller passes with ``extra=`` appear in
  both formats, so ``log.info("session end", extra={"close_code": 1000})`` is enough.
* :class:`RedactionFilter` sits on every handler as the last line of defence: key and token
  values in query strings, header-like ``Name: value`` pairs, ``Bearer`` credentials, JWTs
  and the secrets registered with :func:`register_secret` never leave the process. Code
  should not rely on it: it logs key fingerprints, never keys.
* :class:`AccessLogger` writes one line per HTTP request (``shim.access``) with the path's
  credentials redacted.

The JSON formatter is the standard library's ``Formatter`` plus ``json.dumps``: the only logic
is which record attributes are caller fields, which a library would not save.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import urllib.parse
from collections.abc import Iterable
from typing import IO, Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from shim.logsink import BackgroundStreamHandler
from shim.redaction import REDACTED, SECRET_NAMES, redact_url

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")

_NAMES = "|".join(re.escape(name) for name in sorted(SECRET_NAMES, key=len, reverse=True))
# name=value (queries, text extras) or "name": "value" / Name: value (headers, reprs, JSON);
# the name must not continue a longer word (client_key=, request_token: stay).
_NAMED_SECRET = re.compile(
    rf"(?<![\w-])(?P<name>{_NAMES})(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
    rf"(?:(?P<scheme>bearer\s+))?(?P<value>[^\s\"'&,;)}}\]]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_SECRETS: set[str] = set()
_installed: logging.Handler | None = None  # configure_logging's handler

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def register_secret(*values: str | None) -> None:
    """Values (configured keys, the token secret) to mask wherever they appear in a log line."""
    _SECRETS.update(v for v in values if v and len(v) >= 4)


def redact_text(text: str) -> str:
    """Free text with every recognisable credential masked (see the module docstring)."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _NAMED_SECRET.sub(
        lambda m: (
            f"{m['name']}{m['sep']}{m['scheme'] or ''}{REDACTED}"
            if m["value"] != REDACTED
            else m[0]
        ),
        text,
    )
    return _BEARER.sub(f"Bearer {REDACTED}", text)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed with ``extra=``, in the order given."""
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _RECORD_ATTRIBUTES and not name.startswith("_")
    }


class RedactionFilter(logging.Filter):
    """Mask credentials in a record's message, its extra fields and its traceback."""

    _exceptions = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it (handleError), unformatted
            record.msg, record.args = redact_text(str(record.msg)), None
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for name, value in extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, name, redact_text(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exceptions.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in extra_fields(record).items():
            document.setdefault(name, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-01-01 12:00:00,000 INFO shim.session: session end request_id=… close_code=1000``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = extra_fields(record).items()
        extras = " ".join(f"{name}={_text_value(v)}" for name, v in fields if v is not None)
        return f"{line} {extras}" if extras else line


def _text_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or any(c.isspace() or c == '"' for c in text) else text


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def configure_logging(
    level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """One handler on the root logger (replacing the one an earlier call installed).

    On the process's stderr the handler writes from a thread of its own (``logsink``): an
    unread stderr pipe must not stall the event loop. A given ``stream`` is written at once."""
    global _installed
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
        _installed.close()
    handler: logging.StreamHandler[IO[str]] = (
        logging.StreamHandler(stream) if stream is not None else BackgroundStreamHandler(sys.stderr)
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.setLevel(level.upper())  # also when a logger below root was set lower
    root.addHandler(handler)
    root.setLevel(level.upper())
    _installed = handler
    add_redaction(root.handlers)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # AccessLogger replaces it
    return handler


def add_redaction(handlers: Iterable[logging.Handler]) -> None:
    for handler in handlers:
        if not any(isinstance(f, RedactionFilter) for f in handler.filters):
            handler.addFilter(RedactionFilter())


PROBE_PATHS = frozenset({"/livez", "/readyz", "/healthz"})


class AccessLogger(AbstractAccessLogger):
    """One ``shim.access`` line per HTTP request, credentials in the path masked; successful
    probes at DEBUG, everything else at INFO.

    For a WebSocket session the line is written when the session ends: status 101, and the
    duration is the session's. Pass as ``access_log_class`` to ``web.AppRunner``.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        path = redact_url(request.path_qs)
        fields: dict[str, Any] = {
            "method": request.method,
            "path": path,
            "status": response.status,
            "duration_s": round(time, 3),
            "remote": request.remote or "-",
        }
        request_id = response.headers.get("X-RequestId")
        if request_id:
            fields["request_id"] = request_id
        trace = request.headers.get("X-ClientTraceId") or _query_value(
            request.query_string, "x-clienttraceid"
        )
        if trace:
            fields["client_trace_id"] = trace
        agent = request.headers.get("User-Agent")
        if agent:
            fields["user_agent"] = agent
        # Probes come every few seconds from every load balancer and kubelet: DEBUG when fine.
        quiet = request.path in PROBE_PATHS and response.status < 400
        level = logging.DEBUG if quiet else logging.INFO
        self.logger.log(level, "%s %s %d", request.method, path, response.status, extra=fields)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)  # probes' DEBUG lines need INFO too


def _query_value(query: str, wanted: str) -> str | None:
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name.lower() == wanted:
            return value
    return None


def say_ready(url: str) -> None:
    """Print ``ready URL`` on stdout for whoever started the process, in one write: ``print``
    writes the line and its newline apart, and another thread's output could land between."""
    sys.stdout.write(f"ready {url}\n")
    sys.stdout.flush()
