"""The rules on the end of a session (ER1, ER3, ER4): flushing, close codes, close reasons."""

from __future__ import annotations

import re

from shim.harness.checks.rule_base import Finding, NotApplicable, Rule, Session

DOCUMENTED_CLOSE_CODES = frozenset({1000, 1001, 1003, 1011})
PROTOCOL_CLOSE_CODES = frozenset({1002, 1009})  # RFC 6455: the client broke the protocol
ACCEPTED_CLOSE_CODES = DOCUMENTED_CLOSE_CODES | PROTOCOL_CLOSE_CODES
_LEAKY_REASON = re.compile(
    r"(?i)(https?|wss?)://|traceback|exception|stack|\bUSP\b|X-ConnectionId|"
    r"speech\.microsoft|cognitiveservices|azure|[0-9a-f]{32}"
)


def _flush_on_client_close(session: Session) -> list[Finding]:
    client_close, server_close = session.close_frame("out"), session.close_frame("in")
    if client_close is None or (server_close is not None and server_close.n < client_close.n):
        raise NotApplicable("the client did not start the close")
    if server_close is None:
        return [Finding(client_close, "the server never answered the client's Close")]
    findings = []
    last = session.results[-1] if session.results else None
    if last is not None and last.type == "partial":
        findings.append(
            Finding(server_close, f"closed with partial {last.id} pending: its final was not sent")
        )
    return findings


def _close_code(session: Session) -> list[Finding]:
    if not session.upgraded:
        raise NotApplicable("no WebSocket was opened")
    code = session.server_close_code()
    if code in ACCEPTED_CLOSE_CODES:
        return []
    frame = session.close_frame("in")
    if frame is None:
        return [Finding(None, "the connection ended without a Close frame from the server (1006)")]
    return [
        Finding(
            frame,
            f"close code {code} is neither a legacy code (1000, 1001, 1003, 1011)"
            " nor an RFC 6455 protocol error (1002, 1009)",
        )
    ]


def _close_reason(session: Session) -> list[Finding]:
    frame = session.close_frame("in")
    if frame is None or not frame.reason:
        raise NotApplicable("no close reason")
    findings = []
    if len(frame.reason.encode()) > 123:
        findings.append(Finding(frame, "close reason longer than 123 bytes"))
    if _LEAKY_REASON.search(frame.reason):
        findings.append(Finding(frame, f"close reason may leak backend details: {frame.reason!r}"))
    return findings


RULES: tuple[Rule, ...] = (
    Rule(
        "ER1",
        "after the client's Close the server flushes results, then closes",
        "SHOULD",
        _flush_on_client_close,
    ),
    Rule(
        "ER3",
        "the server closes with a legacy code (1000, 1001, 1003, 1011) or 1002/1009",
        "MUST",
        _close_code,
    ),
    Rule("ER4", "close reasons are short and leak no backend details", "SHOULD", _close_reason),
)
