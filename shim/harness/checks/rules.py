"""The legacy protocol rules checked on a recorded session (ids of legacy-rules.md).

One function per rule, each returning the frames that broke it, so ``validate``,
``conformance`` and the test fixture judge a session the same way. MUST rules fail;
SHOULD rules (ER1, ER4) only warn, as the original behaviour is unknown there. ``CT*`` rows
are the machine-readable contracts, ``RC1`` the recording format itself.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.frames import Opcode

from shim.audiotime import BYTES_PER_SECOND, TICKS_PER_SECOND
from shim.harness.checks import audiocheck, schemas
from shim.harness.recordings.messages import (
    FramingError,
    RecordedMessage,
    Result,
    assemble,
    parse_result,
)
from shim.harness.recordings.recording import FrameRecord, Recording

Status = Literal["pass", "fail", "warn", "n/a"]
Level = Literal["MUST", "SHOULD"]

DOCUMENTED_CLOSE_CODES = frozenset({1000, 1001, 1003, 1011})
PROTOCOL_CLOSE_CODES = frozenset({1002, 1009})  # RFC 6455: the client broke the protocol
ACCEPTED_CLOSE_CODES = DOCUMENTED_CLOSE_CODES | PROTOCOL_CLOSE_CODES
TIMING_FIELDS = ("audioStreamPosition", "audioSizeBytes", "audioTimeOffset", "audioTimeSize")
KNOWN_PARAMETERS = (
    "api-version", "from", "to", "features", "voice", "format", "ProfanityAction",
    "ProfanityMarker", "X-CorrelationId", "X-ClientTraceId", "subscription-key", "access_token",
)  # fmt: skip
_LEAKY_REASON = re.compile(
    r"(?i)(https?|wss?)://|traceback|exception|stack|\bUSP\b|X-ConnectionId|"
    r"speech\.microsoft|cognitiveservices|azure|[0-9a-f]{32}"
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True)
class Finding:
    """One breach: the frame that broke the rule (None: the handshake) and what was wrong."""

    frame: FrameRecord | None
    detail: str
    place: str = "handshake"  # what ``where`` names when there is no frame

    def where(self) -> str:
        return self.frame.describe() if self.frame is not None else self.place


@dataclass
class RuleResult:
    rule: str
    title: str
    level: Level
    findings: list[Finding] = field(default_factory=list)
    applicable: bool = True
    note: str = ""

    @property
    def status(self) -> Status:
        if not self.applicable:
            return "n/a"
        if not self.findings:
            return "pass"
        return "fail" if self.level == "MUST" else "warn"


class NotApplicable(Exception):
    """Raised by a rule check that does not apply to this session; the message says why."""


@dataclass
class Session:
    """A recording read the way the rules need it."""

    recording: Recording
    lines: Sequence[tuple[int, Any]] | None
    params: dict[str, str]
    features: frozenset[str]
    server: list[RecordedMessage]
    server_framing: list[FramingError]
    client: list[RecordedMessage]
    results: list[Result]

    @property
    def upgraded(self) -> bool:
        return self.recording.status == 101

    @property
    def tts_requested(self) -> bool:
        return "texttospeech" in self.features

    def close_frame(self, direction: str) -> FrameRecord | None:
        for frame in self.recording.frames:
            if frame.direction == direction and frame.opcode is Opcode.CLOSE:
                return frame
        return None

    def server_close_code(self) -> int:
        frame = self.close_frame("in")
        if frame is None:
            return 1006
        return frame.code if frame.code is not None else 1005


def read_session(recording: Recording, lines: Sequence[tuple[int, Any]] | None = None) -> Session:
    query = urllib.parse.urlsplit(recording.url).query
    params = {k.lower(): v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    features = frozenset(
        item.strip().lower() for item in params.get("features", "").split(",") if item.strip()
    )
    server, framing = assemble(recording.frames, "in")
    client, _ = assemble(recording.frames, "out")
    results = [parse_result(m) for m in server if m.opcode is Opcode.TEXT]
    return Session(recording, lines, params, features, server, framing, client, results)


Check = Callable[[Session], list[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    level: Level
    check: Check


def _language(code: str) -> str:
    return code.split("-")[0].split("_")[0].lower()


# -- the recording and the handshake -----------------------------------------------------


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


# -- what the client sent ------------------------------------------------------------------


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


# -- results ---------------------------------------------------------------------------------


def _results_or_na(session: Session) -> list[Result]:
    if not session.results:
        raise NotApplicable("the server sent no text message")
    return session.results


def _result_contract(session: Session) -> list[Finding]:
    findings = []
    for result in _results_or_na(session):
        if result.document is None:
            findings.append(
                Finding(result.message.first, f"not a JSON object: {result.raw[:80]!r}")
            )
            continue
        for problem in schemas.problems(schemas.RESULT, result.document)[:1]:
            findings.append(Finding(result.message.first, problem))
    return findings


def _single_compact_frame(session: Session) -> list[Finding]:
    findings = []
    for result in _results_or_na(session):
        message = result.message
        if len(message.frames) != 1 or not message.complete:
            findings.append(Finding(message.first, f"a result in {len(message.frames)} frames"))
        elif result.document is None:
            findings.append(Finding(message.first, "not JSON"))
        elif re.search(r"\s", _STRING.sub('""', result.raw)):
            findings.append(
                Finding(message.first, "JSON is not compact (whitespace between tokens)")
            )
    return findings


def _only_partial_and_final(session: Session) -> list[Finding]:
    return [
        Finding(r.message.first, f"message type {r.type or r.raw[:40]!r}")
        for r in _results_or_na(session)
        if r.type not in ("partial", "final")
    ]


def _final_ids(session: Session) -> list[Finding]:
    finals = [r for r in _results_or_na(session) if r.type == "final"]
    return [
        Finding(r.message.first, f'final id {r.id!r}, expected "{index}"')
        for index, r in enumerate(finals)
        if r.id != str(index)
    ]


def _partial_ids(session: Session) -> list[Finding]:
    findings, finals, last_k = [], 0, -1
    for result in _results_or_na(session):
        if result.type == "final":
            finals, last_k = finals + 1, -1
        elif result.type == "partial":
            match = re.fullmatch(r"([0-9]+)\.([0-9]+)", result.id)
            if match is None:
                findings.append(Finding(result.message.first, f"partial id {result.id!r}"))
                continue
            n, k = int(match[1]), int(match[2])
            if n != finals:
                findings.append(
                    Finding(
                        result.message.first,
                        f"partial {result.id} but the coming final is {finals}",
                    )
                )
            elif k <= last_k:
                findings.append(
                    Finding(
                        result.message.first,
                        f"partial {result.id} after {n}.{last_k}: k must increase",
                    )
                )
            last_k = max(last_k, k)
    return findings


def _partials_only_when_asked(session: Session) -> list[Finding]:
    if "partial" in session.features:
        raise NotApplicable("Partial was requested")
    return [
        Finding(r.message.first, "a partial without Partial in features")
        for r in _results_or_na(session)
        if r.type == "partial"
    ]


def _texts_present(session: Session) -> list[Finding]:
    return [
        Finding(r.message.first, f"{name} missing or not a string")
        for r in _results_or_na(session)
        for name in ("recognition", "translation")
        if not isinstance(r.field(name), str)
    ]


def _timing(session: Session) -> list[Finding]:
    results = _results_or_na(session)
    if "timinginfo" not in session.features:
        return [
            Finding(r.message.first, "timing fields without TimingInfo")
            for r in results
            if any(r.field(name) is not None for name in TIMING_FIELDS)
        ]
    findings: list[Finding] = []
    previous_end: int | None = None
    for result in results:
        values = [result.field(name) for name in TIMING_FIELDS]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            findings.append(Finding(result.message.first, "timing fields missing or not integers"))
            continue
        position, size, offset, duration = values
        for ticks, count, names in (
            (offset, position, "audioTimeOffset/audioStreamPosition"),
            (duration, size, "audioTimeSize/audioSizeBytes"),
        ):
            if ticks * BYTES_PER_SECOND != count * TICKS_PER_SECOND:
                findings.append(
                    Finding(
                        result.message.first,
                        f"{names} = {ticks}/{count}: bytes ≠ ticks × 32000 / 10⁷",
                    )
                )
        if result.type == "final":
            if previous_end is not None and offset < previous_end:
                findings.append(
                    Finding(
                        result.message.first,
                        f"final starts at {offset} ticks, before the previous one ended"
                        f" ({previous_end})",
                    )
                )
            previous_end = offset + duration
    return findings


def _same_language_repeats(session: Session) -> list[Finding]:
    source, target = session.params.get("from", ""), session.params.get("to", "")
    if not source or _language(source) != _language(target):
        raise NotApplicable("from and to are different languages")
    return [
        Finding(r.message.first, f"translation {r.translation!r} ≠ recognition {r.recognition!r}")
        for r in _results_or_na(session)
        if r.translation != r.recognition
    ]


# -- text to speech ----------------------------------------------------------------------------


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


# -- the end of the session ---------------------------------------------------------------------


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
    Rule("AI1", "a text frame from the client closes with 1003", "MUST", _text_frame_closes_1003),
    Rule("AI6", "audio without a header closes with 1003", "MUST", _no_header_closes_1003),
    Rule("CT1", "every result matches legacy-result.schema.json", "MUST", _result_contract),
    Rule(
        "RS1",
        "each result is one unfragmented text frame of compact JSON",
        "MUST",
        _single_compact_frame,
    ),
    Rule("RS2", 'only "partial" and "final" messages', "MUST", _only_partial_and_final),
    Rule("RS3", 'finals numbered "0", "1", … in order', "MUST", _final_ids),
    Rule("RS4", "partials N.k: N = the coming final, k increasing", "MUST", _partial_ids),
    Rule("RS5", "partials only with Partial", "MUST", _partials_only_when_asked),
    Rule("RS6", "recognition and translation strings on every result", "MUST", _texts_present),
    Rule("RS7", "timing fields only with TimingInfo, integral and consistent", "MUST", _timing),
    Rule("RS8", "same language: translation repeats recognition", "MUST", _same_language_repeats),
    Rule(
        "TS1",
        "exactly one TTS message after each final, before the next result",
        "MUST",
        _one_tts_per_final,
    ),
    Rule("TS2", "each TTS message is one message in several frames", "MUST", _tts_fragmented),
    Rule("TS3", "audio/wav TTS: RIFF, 46-byte header, PCM 16 kHz mono, sizes filled", "MUST", _wav),
    Rule("TS4", "audio/mp3 TTS is MP3 bytes", "MUST", _mp3),
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


def check_recording(
    recording: Recording, lines: Sequence[tuple[int, Any]] | None = None
) -> list[RuleResult]:
    """Every rule on one recording, in table order. ``lines`` (the file's parsed lines) make
    RC1 check the file as written rather than as re-serialised."""
    session = read_session(recording, lines)
    results = []
    for rule in RULES:
        result = RuleResult(rule.id, rule.title, rule.level)
        try:
            result.findings = rule.check(session)
        except NotApplicable as reason:
            result.applicable, result.note = False, str(reason)
        results.append(result)
    return results


def failed(results: Sequence[RuleResult]) -> list[RuleResult]:
    return [result for result in results if result.status == "fail"]
