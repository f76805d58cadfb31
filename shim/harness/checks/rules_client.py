"""The rules on what the client sent (AI1, AI6): how the server answers bad input."""

from __future__ import annotations

from websockets.frames import Opcode

from shim.harness.checks.rule_base import Finding, NotApplicable, Rule, Session


def _text_frame_closes_1003(session: Session) -> list[Finding]:
    texts = [m for m in session.client if m.opcode is Opcode.TEXT]
    if not texts:
        raise NotApplicable("the client sent no text frame")
    code = session.server_close_code()
    if code == 1003:
        return []
    return [
        Finding(texts[0].first, f"after this text frame the server closed with {code}, not 1003")
    ]


def _no_header_closes_1003(session: Session) -> list[Finding]:
    binaries = [m for m in session.client if m.opcode is Opcode.BINARY]
    if not binaries or binaries[0].head[:4] == b"RIFF":
        raise NotApplicable("the client's audio starts with a RIFF header")
    code = session.server_close_code()
    if code == 1003:
        return []
    return [
        Finding(
            binaries[0].first, f"audio without a header; the server closed with {code}, not 1003"
        )
    ]


RULES: tuple[Rule, ...] = (
    Rule("AI1", "a text frame from the client closes with 1003", "MUST", _text_frame_closes_1003),
    Rule("AI6", "audio without a header closes with 1003", "MUST", _no_header_closes_1003),
)
