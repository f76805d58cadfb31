"""Run one legacy session: stream a profile's frames while results come back.

Sending and receiving run concurrently, as in every real client: results are handled as they
arrive, not after the upload, because partials during streaming and finals before the close
are what the server is tested on. The outcome records what came back and judges the ending
against what the profile's client expects (:class:`shim.harness.session.profiles.Ending`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl as ssl_module
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import InvalidURI
from websockets.frames import Opcode

from shim.harness.session.frame_client import (
    Connection,
    ConnectionClosed,
    FrameObserver,
    HandshakeError,
    HandshakeObserver,
    HandshakeRefused,
    HeaderItems,
    MessageAssembler,
    connect,
)
from shim.harness.session.profiles import PROFILES, Ending, Finish, Profile, Step
from shim.harness.session.request import (
    MASK,
    Credential,
    build_headers,
    build_url,
    requested_features,
)
from shim.redaction import redact_url

__all__ = [
    "Credential",
    "SessionOutcome",
    "TextResult",
    "TtsMessage",
    "build_headers",
    "build_url",
    "run_session",
]


@dataclass(frozen=True)
class TextResult:
    """One JSON text message as received; ``at`` is seconds since the connection opened."""

    message: dict[str, Any]
    raw: str
    at: float
    frames: int

    @property
    def type(self) -> str:
        return str(self.message.get("type", ""))

    @property
    def id(self) -> str:
        return str(self.message.get("id", ""))

    @property
    def recognition(self) -> str:
        return str(self.message.get("recognition", ""))

    @property
    def translation(self) -> str:
        return str(self.message.get("translation", ""))


@dataclass(frozen=True)
class TtsMessage:
    """One binary message (a TTS segment); ``final_id`` is the final it followed."""

    data: bytes = field(repr=False)
    frames: int
    at: float
    final_id: str | None

    @property
    def extension(self) -> str:
        """``.wav`` for a RIFF file, ``.mp3`` otherwise (format=audio/mp3)."""
        return ".wav" if self.data[:4] == b"RIFF" else ".mp3"


@dataclass
class SessionOutcome:
    profile: str
    url: str  # credentials redacted
    refused: HandshakeRefused | None = None
    request_id: str | None = None
    results: list[TextResult] = field(default_factory=list)
    tts: list[TtsMessage] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    server_closed_first: bool | None = None
    streamed_all: bool = False
    frames_sent: int = 0
    bytes_sent: int = 0
    duration: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ended_as_expected(self) -> bool:
        return not self.problems

    @property
    def finals(self) -> list[TextResult]:
        return [result for result in self.results if result.type == "final"]

    @property
    def partials(self) -> list[TextResult]:
        return [result for result in self.results if result.type == "partial"]


ResultCallback = Callable[[TextResult], None]
TtsCallback = Callable[[TtsMessage], None]
ProgressCallback = Callable[[int, int], None]


class _Session:
    """The state both halves of a session share."""

    def __init__(
        self,
        connection: Connection,
        outcome: SessionOutcome,
        started: float,
        on_result: ResultCallback | None,
        on_tts: TtsCallback | None,
    ) -> None:
        self.connection = connection
        self.outcome = outcome
        self.started = started
        self.on_result = on_result
        self.on_tts = on_tts
        self.activity = asyncio.Event()
        self.last_activity = started

    async def receive(self) -> None:
        """Read frames until the connection closes, handing each message on at once."""
        assembler = MessageAssembler()
        outcome = self.outcome
        last_final: str | None = None
        while (frame := await self.connection.receive_frame()) is not None:
            try:
                message = assembler.feed(frame)
            except ValueError as exc:
                outcome.problems.append(f"protocol violation by the server: {exc}")
                continue
            if message is None:
                continue
            now = time.monotonic()
            at = now - self.started
            if message.opcode is Opcode.TEXT:
                result = _text_result(message.data, at, message.frames, outcome.problems)
                if result is None:
                    continue
                if result.type == "final":
                    last_final = result.id
                outcome.results.append(result)
                if self.on_result is not None:
                    self.on_result(result)
            else:
                tts = TtsMessage(message.data, message.frames, at, last_final)
                outcome.tts.append(tts)
                if self.on_tts is not None:
                    self.on_tts(tts)
            self.last_activity = now
            self.activity.set()
        self.activity.set()  # closed: wake a client waiting for results

    async def stream(
        self, steps: list[Step], receiver: asyncio.Task[None], on_progress: ProgressCallback | None
    ) -> None:
        """Send the schedule against absolute deadlines, so many small pauses do not drift."""
        outcome = self.outcome
        total = sum(len(step.frame.data) for step in steps)
        deadline = time.monotonic()
        for step in steps:
            deadline += step.delay
            pause = deadline - time.monotonic()
            if pause > 0:
                # Wakes early if the server closes the connection meanwhile.
                await asyncio.wait({receiver}, timeout=pause)
            if receiver.done() or not self.connection.open:
                return
            try:
                await self.connection.send_frame(step.frame.opcode, step.frame.data, step.frame.fin)
            except ConnectionClosed:
                return
            outcome.frames_sent += 1
            outcome.bytes_sent += len(step.frame.data)
            if on_progress is not None:
                on_progress(outcome.bytes_sent, total)
        outcome.streamed_all = True
        self.last_activity = max(self.last_activity, time.monotonic())

    async def wait_for_results(
        self, ending: Ending, *, tts: bool, expect: bool, settle: float, limit: float
    ) -> None:
        """Hold the connection open the way the profile's client does before closing."""
        finish = ending.finish
        if finish is Finish.CLOSE:
            return
        outcome, deadline = self.outcome, time.monotonic() + limit
        while self.connection.open:
            now = time.monotonic()
            if now >= deadline:
                return
            if finish is Finish.AFTER_RESULTS:
                if len(outcome.finals) + len(outcome.tts) >= ending.results_before_close:
                    return
                wait = deadline - now
            elif finish is Finish.FIRST_RESULT_THEN_CLOSE:
                if outcome.tts if tts else outcome.finals:
                    return
                wait = deadline - now
            else:
                finals = len(outcome.finals)
                complete = (finals > 0 or not expect) and (not tts or len(outcome.tts) >= finals)
                quiet = now - self.last_activity
                if complete and quiet >= settle:
                    return
                wait = min(deadline - now, settle - quiet if complete else deadline - now)
            self.activity.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.activity.wait(), max(wait, 0.01))


def _text_result(data: bytes, at: float, frames: int, problems: list[str]) -> TextResult | None:
    try:
        raw = data.decode("utf-8")
        document = json.loads(raw)
    except ValueError:
        problems.append(f"text message is not JSON: {data[:80]!r}")
        return None
    if not isinstance(document, dict):
        problems.append(f"text message is not a JSON object: {raw[:80]!r}")
        return None
    return TextResult(document, raw, at, frames)


async def run_session(
    url: str,
    headers: HeaderItems,
    audio_wav_bytes: bytes,
    profile: Profile | str,
    *,
    speed: float = 1.0,
    on_result: ResultCallback | None = None,
    on_tts: TtsCallback | None = None,
    on_progress: ProgressCallback | None = None,
    observer: FrameObserver | None = None,
    on_handshake: HandshakeObserver | None = None,
    ssl: ssl_module.SSLContext | None = None,
    timeout: float = 10.0,
    result_timeout: float = 30.0,
    settle: float = 1.5,
    expect_results: bool = True,
) -> SessionOutcome:
    """Connect, stream ``audio_wav_bytes`` the way ``profile`` does, collect every result.

    ``speed`` divides the profile's pauses (0: none). ``timeout`` bounds the handshake and
    the closing handshake; ``result_timeout`` bounds the wait for results after streaming
    (the official Java client waits 30 s). ``settle`` is how long results must have stopped
    before a waiting client closes. With ``expect_results`` a session without a final does
    not count as expected; with TextToSpeech in the URL's features, every final must be
    followed by its TTS message. ``observer`` and ``on_handshake`` see the wire (recordings).
    Raises WavError for unreadable audio, before connecting.
    """
    chosen = PROFILES[profile] if isinstance(profile, str) else profile
    steps = chosen.schedule(audio_wav_bytes, speed=speed)
    outcome = SessionOutcome(chosen.name, redact_url(url, mask=MASK))
    started = time.monotonic()
    connection = await _open(
        url,
        headers,
        outcome,
        ssl=ssl,
        timeout=timeout,
        observer=observer,
        on_handshake=on_handshake,
    )
    if connection is None:
        if outcome.refused is not None:
            outcome.duration = time.monotonic() - started
        return outcome
    outcome.request_id = connection.response_headers.get("X-RequestId")
    session = _Session(connection, outcome, started, on_result, on_tts)
    tts = "texttospeech" in requested_features(url)
    receiver = asyncio.create_task(session.receive())
    try:
        await session.stream(steps, receiver, on_progress)
        if receiver.done() and receiver.exception() is not None:
            await receiver  # a callback failed: raise its exception
        if outcome.streamed_all:
            await session.wait_for_results(
                chosen.ending,
                tts=tts,
                expect=expect_results,
                settle=settle,
                limit=result_timeout,
            )
        await _close(connection, chosen.ending, outcome, result_timeout, timeout)
        await receiver
    finally:
        if not receiver.done():
            receiver.cancel()
        if not connection.closed:
            connection.abort()
    outcome.close_code = connection.close_code
    outcome.close_reason = connection.close_reason
    outcome.server_closed_first = connection.server_closed_first
    outcome.duration = time.monotonic() - started
    _judge(outcome, chosen, tts=tts, expect_results=expect_results)
    return outcome


async def _open(
    url: str,
    headers: HeaderItems,
    outcome: SessionOutcome,
    *,
    ssl: ssl_module.SSLContext | None,
    timeout: float,
    observer: FrameObserver | None,
    on_handshake: HandshakeObserver | None,
) -> Connection | None:
    """The upgraded connection; None (the outcome says why) when there is none."""
    try:
        connection = await connect(
            url, headers, ssl=ssl, timeout=timeout, observer=observer, on_handshake=on_handshake
        )
    except (OSError, TimeoutError, HandshakeError, InvalidURI) as exc:
        outcome.problems.append(f"could not connect: {exc or type(exc).__name__}")
        return None
    if isinstance(connection, HandshakeRefused):
        outcome.refused = connection
        outcome.problems.append(
            f"handshake refused: HTTP {connection.status} {connection.reason}: {connection.message}"
        )
        return None
    return connection


async def _close(
    connection: Connection,
    ending: Ending,
    outcome: SessionOutcome,
    result_timeout: float,
    timeout: float,
) -> None:
    """End the session the way the profile's client does and wait for the server's close."""
    connection.send_close(ending.close_code, ending.close_reason)
    if ending.half_close:
        connection.half_close()
    # After the client's close the server may still flush results (ER1): allow for it.
    limit = result_timeout + timeout if ending.finish is Finish.CLOSE else timeout
    if ending.close_wait is not None:
        limit = ending.close_wait
    if not await connection.wait_closed(limit):
        outcome.problems.append(f"the server did not complete the close within {limit:g} s")


def _judge(outcome: SessionOutcome, profile: Profile, *, tts: bool, expect_results: bool) -> None:
    """Add a problem for everything the profile's client would not have accepted."""
    problems, ending = outcome.problems, profile.ending
    code, reason = outcome.close_code, outcome.close_reason or ""
    described = f"{code}" + (f" ({reason})" if reason else "")
    if not outcome.streamed_all:
        problems.append(
            f"the server closed the session with {described} while the client was still"
            f" sending (after {outcome.frames_sent} frames)"
        )
    elif code not in ending.expected_close_codes:
        expected = ", ".join(str(c) for c in sorted(ending.expected_close_codes))
        problems.append(f"the session closed with {described}; expected {expected}")
    if expect_results and not outcome.finals:
        problems.append("no final result arrived")
    if tts:
        problems.extend(_missing_tts(outcome))


def _missing_tts(outcome: SessionOutcome) -> list[str]:
    """Every final must be followed by exactly one TTS message (TS1)."""
    counts = {final.id: 0 for final in outcome.finals}
    problems: list[str] = []
    for tts in outcome.tts:
        if tts.final_id is None:
            problems.append("a TTS message arrived before any final")
        else:
            counts[tts.final_id] = counts.get(tts.final_id, 0) + 1
    for final_id, count in counts.items():
        if count == 0:
            problems.append(f"final {final_id!r} got no TTS message")
        elif count > 1:
            problems.append(f"final {final_id!r} got {count} TTS messages")
    return problems
