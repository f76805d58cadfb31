"""shim/logs.py: the formats, the redaction, the access log fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from shim.logs import (
    RedactionFilter,
    configure_logging,
    redact_text,
    register_secret,
)
from shim.redaction import redact_url
from tests.support import logscan

pytestmark = pytest.mark.unit

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJlLXZhbHVl"


@pytest.fixture
def output() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A logger writing through a handler set up like configure_logging's, into a buffer."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield stream, logging.getLogger("shim.test")
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/speech/translate?from=en&Subscription-Key=abc123&to=de",
            "/speech/translate?from=en&Subscription-Key=REDACTED&to=de",
        ),
        ("/languages?access_token=x.y.z", "/languages?access_token=REDACTED"),
        (
            "/x?KEY=1&Token=2&ocp-apim-subscription-key=3",
            "/x?KEY=REDACTED&Token=REDACTED&ocp-apim-subscription-key=REDACTED",
        ),
        ("/x?Authorization=Bearer%20abc", "/x?Authorization=REDACTED"),
        ("/x?subscription%2Dkey=abc", "/x?subscription%2Dkey=REDACTED"),
        ("/x?monkey=1&tokens=2&api-version=1.0", "/x?monkey=1&tokens=2&api-version=1.0"),
        ("/healthz", "/healthz"),
    ],
)
def test_redact_url_masks_every_credential_parameter_in_any_case(path: str, expected: str) -> None:
    assert redact_url(path) == expected


@pytest.mark.parametrize(
    "text",
    [
        "headers {'Ocp-Apim-Subscription-Key': 'c0ffee-key-1'}",
        'request "Authorization: Bearer c0ffee-key-1"',
        "connecting to wss://host/speech?subscription-key=c0ffee-key-1&from=en",
        "key=c0ffee-key-1",
        '{"token": "c0ffee-key-1"}',
        "Authorization=c0ffee-key-1",
        f"issued {JWT}",
        "sent Bearer c0ffee-key-1xyz",
    ],
)
def test_redact_text_masks_credentials_in_free_text(text: str) -> None:
    redacted = redact_text(text)
    assert "c0ffee-key-1" not in redacted and JWT not in redacted
    assert "REDACTED" in redacted
    assert logscan.leak_in(redacted) is None


@pytest.mark.parametrize(
    "text",
    [
        "session 73ea start: client=key 8b5b9db0 trace=-",
        "no token secret configured (--token-secret / SHIM_TOKEN_SECRET)",
        "client_key=abc request_token: x monkey=1",
        "close 1000 -, 3 finals, 12.4 s",
    ],
)
def test_redact_text_leaves_ordinary_lines_alone(text: str) -> None:
    assert redact_text(text) == text


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    register_secret("very-private-azure-key")
    assert redact_text("backend said: very-private-azure-key!") == "backend said: REDACTED!"


def test_json_lines_carry_the_standard_fields_and_the_callers_extra_fields(
    output: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, log = output
    configure_logging("DEBUG", "json", stream)
    log.info(
        "session end",
        extra={"request_id": "r1", "client_trace_id": None, "close_code": 1000, "finals": 3},
    )
    log.debug("details %d", 7)
    first, second = (json.loads(line) for line in _lines(stream))
    assert list(first)[:4] == ["time", "level", "logger", "message"]
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert {k: first[k] for k in list(first)[1:]} == {
        "level": "INFO",
        "logger": "shim.test",
        "message": "session end",
        "request_id": "r1",
        "client_trace_id": None,
        "close_code": 1000,
        "finals": 3,
    }
    assert (second["level"], second["message"]) == ("DEBUG", "details 7")


def test_text_lines_show_extra_fields_as_key_value(
    output: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, log = output
    configure_logging("INFO", "text", stream)
    log.info("session end", extra={"request_id": "r1", "close_reason": "idle timeout"})
    log.debug("not shown")
    (line,) = _lines(stream)
    assert line.endswith(' INFO shim.test: session end request_id=r1 close_reason="idle timeout"')


def test_the_handler_redacts_messages_extra_fields_and_tracebacks(
    output: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, log = output
    handler = configure_logging("INFO", "json", stream)
    assert any(isinstance(f, RedactionFilter) for f in handler.filters)
    # logged on purpose to check the last line of defence: keep it from the suite's scan
    logging.getLogger().removeHandler(handler)
    log.addHandler(handler)
    log.propagate = False
    try:
        log.info("url %s", "/x?subscription-key=c0ffee-key-1", extra={"path": "/y?token=c0ffee"})
        try:
            raise RuntimeError(f"upstream refused {JWT}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    text = stream.getvalue()
    assert "c0ffee" not in text and JWT not in text
    first, second = (json.loads(line) for line in _lines(stream))
    assert first["message"] == "url /x?subscription-key=REDACTED"
    assert first["path"] == "/y?token=REDACTED"
    assert "RuntimeError: upstream refused REDACTED" in second["exception"]


def test_a_log_call_with_bad_arguments_does_not_raise_and_is_still_redacted() -> None:
    record = logging.LogRecord(
        "shim.test", logging.INFO, __file__, 1, "key=%s and %s", ("c0ffee-key-1",), None
    )
    assert RedactionFilter().filter(record) is True
    assert "c0ffee-key-1" not in record.getMessage()
