"""The handshake rules (HS1, HS2, HS4), a refusal's contract (CT2), the recording (RC1)."""

from __future__ import annotations

import json
from typing import Any

from shim.harness.checks import schemas
from shim.harness.checks.rule_base import Finding, NotApplicable, Rule, Session

KNOWN_PARAMETERS = (
    "api-version", "from", "to", "features", "voice", "format", "ProfanityAction",
    "ProfanityMarker", "X-CorrelationId", "X-ClientTraceId", "subscription-key", "access_token",
)  # fmt: skip


def _recording_format(session: Session) -> list[Finding]:
    lines = session.lines or list(enumerate(session.recording.to_lines(), start=1))
    frames = {frame.n: frame for frame in session.recording.frames}
    findings = []
    for number, document in lines:
        for problem in schemas.problems(schemas.RECORDING, document)[:1]:
            frame = frames.get(number - 1) if number > 1 else None
            findings.append(Finding(frame, f"line {number}: {problem}"))
    numbers = [frame.n for frame in session.recording.frames]
    if numbers != list(range(1, len(numbers) + 1)):
        findings.append(Finding(None, "frame numbers are not 1, 2, 3, … in order"))
    if session.recording.close is None:
        findings.append(Finding(None, "no close line: the recording was cut short"))
    return findings


def _no_subprotocol(session: Session) -> list[Finding]:
    if not session.upgraded:
        raise NotApplicable("no 101 answer")
    return [
        Finding(None, f"101 negotiated {name}: {session.recording.response_header(name)}")
        for name in ("Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions")
        if session.recording.response_header(name)
    ]


def _request_id(session: Session) -> list[Finding]:
    if not session.upgraded:
        raise NotApplicable("no 101 answer")
    if session.recording.response_header("X-RequestId"):
        return []
    return [Finding(None, "the 101 response has no X-RequestId header")]


def _error_body(session: Session) -> tuple[Any, list[Finding]]:
    response = session.recording.response
    if response is None or session.upgraded:
        raise NotApplicable("the handshake was not refused")
    body = response.get("body", "")
    try:
        return json.loads(body), []
    except ValueError:
        return None, [Finding(None, f"HTTP {response['status']} body is not JSON: {body[:80]!r}")]


def _error_contract(session: Session) -> list[Finding]:
    document, findings = _error_body(session)
    if findings:
        return findings
    return [
        Finding(None, problem) for problem in schemas.problems(schemas.HANDSHAKE_ERROR, document)
    ]


def _error_names_parameter(session: Session) -> list[Finding]:
    if session.recording.status != 400:
        raise NotApplicable("no HTTP 400 answer")
    document, findings = _error_body(session)
    if findings:
        return findings
    text = json.dumps(document).lower()
    if any(name.lower() in text for name in KNOWN_PARAMETERS):
        return []
    return [Finding(None, f"the 400 body names no query parameter: {text[:120]}")]


RULES: tuple[Rule, ...] = (
    Rule("RC1", "the recording matches session-recording.schema.json", "MUST", _recording_format),
    Rule("HS1", "101 without subprotocol or extension", "MUST", _no_subprotocol),
    Rule("HS2", "X-RequestId on the 101 response", "MUST", _request_id),
    Rule(
        "CT2",
        "a refused handshake's body matches handshake-error.schema.json",
        "MUST",
        _error_contract,
    ),
    Rule("HS4", "a 400 answer names the parameter in a JSON body", "MUST", _error_names_parameter),
)
