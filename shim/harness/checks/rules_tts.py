"""The text-to-speech rules (TS1–TS4)."""

from __future__ import annotations

from websockets.frames import Opcode

from shim.harness.checks import audiocheck
from shim.harness.checks.rule_base import Finding, NotApplicable, Rule, Session
from shim.harness.recordings.messages import RecordedMessage, Result, parse_result


def _one_tts_per_final(session: Session) -> list[Finding]:
    if not session.upgraded:
        raise NotApplicable("no WebSocket was opened")
    binaries = [m for m in session.server if m.opcode is Opcode.BINARY]
    if not session.tts_requested:
        return [
            Finding(m.first, "a binary message without TextToSpeech in features") for m in binaries
        ]
    findings: list[Finding] = []
    pending: Result | None = None  # a final still owed its TTS
    for message in session.server:
        if message.opcode is Opcode.TEXT:
            result = parse_result(message)
            if pending is not None:
                findings.append(
                    Finding(message.first, f"final {pending.id} got no TTS before this message")
                )
            pending = result if result.type == "final" else None
        else:
            if pending is None:
                findings.append(Finding(message.first, "a TTS message that follows no final"))
            pending = None
    if pending is not None:
        findings.append(
            Finding(pending.message.first, f"final {pending.id} got no TTS before the end")
        )
    return findings


def _tts_messages(session: Session) -> list[RecordedMessage]:
    messages = [m for m in session.server if m.opcode is Opcode.BINARY]
    if not messages:
        raise NotApplicable("the server sent no binary message")
    return messages


def _tts_fragmented(session: Session) -> list[Finding]:
    findings = [Finding(error.frame, error.detail) for error in session.server_framing]
    for message in _tts_messages(session):
        if not message.complete:
            findings.append(Finding(message.last, "the TTS message never got its FIN frame"))
        elif len(message.frames) < 2:
            findings.append(
                Finding(message.first, "the TTS message is a single frame, not fragmented")
            )
    return findings


def _wav(session: Session) -> list[Finding]:
    if session.params.get("format", "").lower() not in ("", "audio/wav"):
        raise NotApplicable(f"format={session.params['format']}")
    findings, checked = [], 0
    for message in _tts_messages(session):
        head = message.head
        if len(head) < audiocheck.WAV_HEADER and message.data is None:
            continue  # first frame shorter than the header and bytes not kept
        checked += 1
        findings += [Finding(message.first, p) for p in audiocheck.wav_problems(head, message.size)]
    if not checked:
        raise NotApplicable("TTS header bytes not in the recording (record with --keep-audio)")
    return findings


def _mp3(session: Session) -> list[Finding]:
    if session.params.get("format", "").lower() != "audio/mp3":
        raise NotApplicable("format is not audio/mp3")
    return [
        Finding(m.first, f"not MP3 bytes: {m.head[:8]!r}")
        for m in _tts_messages(session)
        if not audiocheck.is_mp3(m.head)
    ]


RULES: tuple[Rule, ...] = (
    Rule(
        "TS1",
        "exactly one TTS message after each final, before the next result",
        "MUST",
        _one_tts_per_final,
    ),
    Rule("TS2", "each TTS message is one message in several frames", "MUST", _tts_fragmented),
    Rule("TS3", "audio/wav TTS: RIFF, 46-byte header, PCM 16 kHz mono, sizes filled", "MUST", _wav),
    Rule("TS4", "audio/mp3 TTS is MP3 bytes", "MUST", _mp3),
)
