"""``GET /speech/translate``: one legacy session, from handshake to close.

The handshake is validated before the upgrade (400/401/429/503 with a JSON body). After it,
every decision belongs to the sans-I/O core, :class:`shim.legacy.conduct.SessionConduct`;
this module only executes its commands. The socket pushes client frames to it as it parses
them; one small task, the writer, reports each result it has written (and a client that stops
reading); a timer fires at the core's next deadline; the Speech SDK bridge delivers backend
events on the loop. Commands run in the order the core gave them: audio to the bridge at once,
results and the final Close through one ordered outbox.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiohttp import web

from shim.auth.authenticator import Authenticator, Grant, SessionSlot
from shim.catalog.catalog import CatalogSource
from shim.legacy.conduct import (
    Abandon,
    AudioReceived,
    BackendLost,
    BackendReplaced,
    BackendStartFailed,
    CheckClient,
    ClientClosed,
    ClientEnded,
    ClientGone,
    ClientNotReading,
    CloseSession,
    Command,
    Delivered,
    EndAudio,
    Ending,
    Event,
    KeepAudioFrom,
    Limits,
    NoOtherBackend,
    PauseReading,
    ProtocolViolation,
    ResumeReading,
    ResynthesisFailed,
    Resynthesize,
    Resynthesized,
    SendResult,
    SendTts,
    SessionConduct,
    ShutdownRequested,
    State,
    TextReceived,
    Tick,
    Warn,
    WriteAudio,
)
from shim.legacy.errors import Failure, HandshakeError, LegacyError
from shim.legacy.request import AudioFormat, SessionRequest, parse_request
from shim.legacy.tts import fragment
from shim.mp3 import encode_mp3
from shim.server import metrics
from shim.server.backend_recorder import BackendRecorder
from shim.server.edge import ConnectionGuard
from shim.server.http import error_response
from shim.server.legacy_socket import (
    ClientClose,
    ClientEnd,
    HandshakeRejected,
    LegacySocket,
    Received,
)
from shim.server.placement import Placement, Seat
from shim.server.session_backend import SessionBackend
from shim.server.telemetry import BackendHealth, SessionTelemetry
from shim.server.traffic import SessionTraffic, Traffic
from shim.speech.bridge import SessionOptions
from shim.speech.events import BridgeEvent
from shim.speech.runtime import SpeechRuntime
from shim.speech.synthesis import Spoken
from shim.wsframes import DataChunk, InvalidPayload, Opcode

log = logging.getLogger("shim.session")

# A write to the client that makes no progress for this long means it stopped reading: the
# session is abandoned (it cannot even be sent a Close).
WRITE_TIMEOUT_SECONDS = 30.0
# aiohttp waits for the transport to drain only above 64 KiB buffered; a smaller message into
# an empty transport never waits, so it needs no timer (arming one per result costs CPU).
UNBLOCKED_WRITE_BYTES = 60_000


class PairCheck(Protocol):
    def __call__(self, source_locale: str, target_language: str) -> str | None:
        """None when the backend serves the pair, else why not."""
        ...


@dataclass
class TranslateService:
    """Everything the endpoint needs, built once by the app factory."""

    catalog: CatalogSource
    authenticator: Authenticator
    placement: Placement  # which Speech resource each session runs on
    executor: Executor  # MP3 encoding (blocking, off the loop)
    runtime: SpeechRuntime
    limits: Limits = field(default_factory=Limits)
    pair_check: PairCheck | None = None
    record_dir: Path | None = None  # serve --record-backend
    guard: ConnectionGuard | None = None  # the legacy connection cap (shim/server/edge.py)
    traffic: Traffic | None = None  # serve --capture-dir, --shadow-backend
    sessions: set[TranslateSession] = field(default_factory=set)
    backend_health: BackendHealth = field(default_factory=BackendHealth)
    draining: bool = False
    started: int = 0


# Every session object still in memory: /healthz reports the count, so a leak shows (a session
# must be freed when it ends, with nothing keeping it alive).
LIVE_SESSIONS: weakref.WeakSet[TranslateSession] = weakref.WeakSet()

# What waits in a session's outbox, with when the SDK produced the result (None: a Close, or
# a result not caused by a backend event).
_Outgoing = tuple[SendResult | SendTts | CloseSession, float | None]


class TranslateSession:
    def __init__(
        self,
        service: TranslateService,
        request: SessionRequest,
        seat: Seat,
        socket: LegacySocket,
        request_id: str,
        on_closed: Callable[[], None] = lambda: None,
        traffic: SessionTraffic | None = None,
    ) -> None:
        LIVE_SESSIONS.add(self)
        self._traffic = traffic  # its capture and shadow, if it has either
        self._on_closed = on_closed  # the client has its close: its session slot is free
        self._service = service
        self._request = request
        self._seat = seat
        self._socket = socket
        self.request_id = request_id
        self._loop = asyncio.get_running_loop()
        self._conduct = SessionConduct(
            request, service.limits, self._loop.time(), may_move=seat.pooled
        )
        self._speech: SessionBackend | None = None
        self._reading = False  # the socket delivers client data (once a backend started)
        self._outbox: collections.deque[_Outgoing] = collections.deque()
        self._outbox_ready = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._finished = asyncio.Event()
        self._abandoned = False
        self._starts: set[asyncio.Task[None]] = set()  # backends starting after a move
        self._event_at: float | None = None  # the SDK callback time of the event being handled
        self.telemetry = SessionTelemetry(service.backend_health, request.audio_format.value)
        self._recorder = (
            BackendRecorder(
                service.record_dir, request_id, request.source_locale, request.target_language
            )
            if service.record_dir is not None
            else None
        )

    def _free_slot(self) -> None:
        """The client has its Close: its key's session slot is free (once)."""
        on_closed, self._on_closed = self._on_closed, lambda: None
        on_closed()

    @property
    def finals(self) -> int:
        return self._conduct.finals_sent

    @property
    def ending(self) -> Ending | None:
        return self._conduct.ending

    def shutdown(self) -> None:
        """The drain is over: close 1001 (the client may retry elsewhere)."""
        self._handle(ShutdownRequested())

    # ---- the core's events and commands ------------------------------------------------------
    def _handle(self, event: Event) -> None:
        for command in self._conduct.handle(event, self._loop.time()):
            self._execute(command)
        self._reschedule()

    def _execute(self, command: Command) -> None:
        speech = self._speech
        if isinstance(command, WriteAudio):
            self.telemetry.audio_written(command.pcm, self._loop.time())
            if self._recorder is not None:
                self._recorder.audio(command.pcm)
            if speech is not None:
                speech.write(command.pcm)
            if self._traffic is not None:
                self._traffic.audio(command.pcm)
        elif isinstance(command, (SendResult, SendTts, CloseSession)):
            self._outbox.append((command, self._event_at))
            self._outbox_ready.set()
        elif isinstance(command, EndAudio):
            if speech is not None:
                speech.end_audio()
            if self._traffic is not None:
                self._traffic.end_audio()
        elif isinstance(command, PauseReading):
            self._socket.hold()
        elif isinstance(command, ResumeReading):
            self._socket.release()
        elif isinstance(command, CheckClient):
            self._socket.ping()
        elif isinstance(command, Abandon):
            log.info("session %s: %s", self.request_id, command.reason)
            self._abandoned = True
            self._outbox.clear()
            self._socket.abort()
            self._finished.set()
        elif isinstance(command, Warn):
            log.warning("session %s: %s", self.request_id, command.message)
        elif isinstance(command, KeepAudioFrom) and speech is not None:
            speech.keep_from(command.tick)
        elif isinstance(command, BackendLost) and speech is not None:
            start = speech.move(command.failure, command.code, command.resume_at)
            if start is None:
                self._handle(NoOtherBackend())
                return
            self._handle(BackendReplaced(start))
            task = asyncio.create_task(self._start_backend())
            self._starts.add(task)
            task.add_done_callback(self._starts.discard)
        elif isinstance(command, Resynthesize) and speech is not None:
            voice = self._request.voice or ""
            timeout = self._service.limits.tts_timeout
            speech.resynthesize(command.final_id, command.text, voice, timeout, self._spoken)

    def _spoken(self, spoken: Spoken) -> None:
        """A final spoken again on the resource the session moved to."""
        if spoken.audio is not None:
            self._handle(Resynthesized(spoken.audio))
        else:
            self._handle(ResynthesisFailed(spoken.code))

    def _backend_event(self, event: BridgeEvent, at: float) -> None:
        if self._recorder is not None:
            self._recorder.observe(event)
        self.telemetry.backend_event(event, self._loop.time())
        self._event_at = at
        try:
            self._handle(event)
        finally:
            self._event_at = None

    # ---- the session ----------------------------------------------------------------------
    async def run(self) -> Ending | None:
        request = self._request
        self._speech = SessionBackend(
            self._seat,
            SessionOptions(
                request.source_locale,
                request.target_language,
                request.voice if request.text_to_speech else None,
                request.profanity,
            ),
            self._backend_event,
            runtime=self._service.runtime,
            request_id=self.request_id,
            on_connected=self.telemetry.connected,
        )
        self._socket.on_gone = lambda: self._handle(ClientGone())
        self._reschedule()
        tasks = [asyncio.create_task(self._write())]
        try:
            await self._start_backend()
            await self._finished.wait()
            self._free_slot()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # A start is never cancelled half-way: the SDK would keep what it had begun.
            await asyncio.gather(*self._starts, return_exceptions=True)
            self._cancel_timer()
            self._socket.detach()
            await self._speech.close(abandon=self._abandoned)
            if self._recorder is not None:
                await self._loop.run_in_executor(self._service.executor, self._recorder.save)
            self._speech = None  # an abandoned teardown goes on without holding this session
        return self._conduct.ending

    async def _start_backend(self) -> None:
        """Start the backend (the first one, or the next after a move); the client's data
        flows once one has started."""
        assert self._speech is not None
        if not await self._speech.start():
            self._handle(BackendStartFailed())
        elif not self._reading and self._conduct.state is not State.CLOSED:
            self._reading = True
            self._socket.start(self._client_data)

    def _client_data(self, item: Received) -> None:
        """Client frames → events, as the socket parses them (it holds them while paused)."""
        if isinstance(item, DataChunk):
            if item.opcode == Opcode.TEXT:
                self._handle(TextReceived())
            else:
                self._handle(AudioReceived(item.data, item.message_start))
        elif isinstance(item, ClientClose):
            self._handle(ClientClosed(item.code))
        elif isinstance(item, ClientEnd):
            self._handle(ClientEnded())
        else:
            self._handle(ProtocolViolation(str(item), isinstance(item, InvalidPayload)))

    def _reschedule(self) -> None:
        """Arm the timer for the core's next deadline. A deadline that moved later keeps the
        armed timer (its early Tick changes nothing and re-arms): audio arriving ten times a
        second pushes the idle deadline on each time, and re-arming costs more than a Tick."""
        deadline = self._conduct.next_deadline()
        timer = self._timer
        if deadline is not None and timer is not None and deadline >= timer.when():
            return
        self._cancel_timer()
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        self._handle(Tick())

    async def _write(self) -> None:
        """The ordered outbox: results, TTS messages, then the Close."""
        socket = self._socket
        while True:
            while not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
            command, result_at = self._outbox.popleft()
            if isinstance(command, CloseSession):
                socket.discard_input()
                await socket.close(command.code, command.reason, on_sent=self._free_slot)
                self._finished.set()
                return
            try:
                if socket.backed_up or command.size > UNBLOCKED_WRITE_BYTES:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                    async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                        sent = await self._send(command)
                else:  # an empty transport takes a small message without waiting
                    sent = await self._send(command)
            except TimeoutError:
                self._handle(ClientNotReading())
                return
            if sent is None:
                self._handle(ClientGone())
                return
            self.telemetry.sent(command, sent, result_at)
            self._handle(Delivered(command.size))

    async def _send(self, command: SendResult | SendTts) -> int | None:
        """Write one result or TTS message; its size in bytes, None if the client is gone."""
        if isinstance(command, SendResult):
            data = command.text.encode("utf-8")
            return len(data) if await self._socket.send_text(data) else None
        payload = command.wav
        if self._request.audio_format is AudioFormat.MP3:
            payload = await self._loop.run_in_executor(self._service.executor, encode_mp3, payload)
        return (
            len(payload) if await self._socket.send_fragmented_binary(fragment(payload)) else None
        )


def _refusal(error: LegacyError, request_id: str) -> web.Response:
    """A refused upgrade: the legacy JSON error under the session's request id, counted."""
    response = error_response(error)
    response.headers["X-RequestId"] = request_id
    if response.status == 503:
        response.headers["Retry-After"] = "1"
    metrics.HANDSHAKE_REJECTIONS.labels(str(response.status)).inc()
    return response


async def translate(request: web.Request, service: TranslateService) -> web.StreamResponse:
    request_id = uuid.uuid4().hex
    guard = service.guard
    origin = time.monotonic()  # a capture's times count from the request
    try:
        if service.draining:
            raise HandshakeError(Failure.SERVER_UNAVAILABLE, "server is shutting down; retry")
        if guard is not None and guard.at_capacity:
            guard.refuse()
            raise HandshakeError(Failure.SERVER_UNAVAILABLE, "too many connections; retry later")
        parsed = parse_request(request.query.items(), request.headers, service.catalog.current())
        grant = service.authenticator.authenticate(parsed.credential)
        if service.pair_check is not None:
            why = service.pair_check(parsed.source_locale, parsed.target_language)
            if why:
                raise HandshakeError(
                    Failure.UNSUPPORTED_LANGUAGE_PAIR,
                    f"from={parsed.source_locale} to={parsed.target_language} is not supported"
                    f" by this server's speech backend: {why}",
                    "to",
                )
        slot = service.authenticator.open_session(grant)
        try:
            seat = service.placement.seat(grant, request_id)
        except LegacyError:
            slot.release()
            raise
    except LegacyError as error:
        response = _refusal(error, request_id)
        log.info(
            "request refused: %s",
            error.message,
            extra={"request_id": request_id, "status": response.status},
        )
        return response
    if guard is not None:
        guard.legacy += 1
    try:
        return await _serve(request, service, parsed, grant, slot, seat, request_id, origin)
    finally:
        if guard is not None:
            guard.legacy -= 1


async def _serve(
    request: web.Request,
    service: TranslateService,
    parsed: SessionRequest,
    grant: Grant,
    slot: SessionSlot,
    seat: Seat,
    request_id: str,
    origin: float,
) -> web.StreamResponse:
    ending: Ending | None = None
    with slot, seat:
        try:
            socket = await LegacySocket.accept(request, {"X-RequestId": request_id})
        except HandshakeRejected as rejected:
            return _refusal(HandshakeError(Failure.BAD_PARAMETER, str(rejected)), request_id)
        traffic = (
            service.traffic.observe(request, parsed, grant, socket, request_id, origin)
            if service.traffic is not None
            else None
        )
        session = TranslateSession(service, parsed, seat, socket, request_id, slot.release, traffic)
        service.sessions.add(session)
        service.started += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        log.info(
            "session start",
            extra={
                "request_id": request_id,
                "client_trace_id": parsed.client_trace_id,
                "from": parsed.source_locale,
                "to": parsed.target_language,
                "features": ",".join(sorted(f.value for f in parsed.features)) or None,
                "format": parsed.audio_format.value,
                "voice": parsed.voice,
                "client": grant.log_label,
                "resource": seat.resource,
            },
        )
        try:
            ending = await session.run()
        finally:
            seat.release(ending.failure if ending else None)
            service.sessions.discard(session)
            if traffic is not None:
                traffic.finish()
            session.telemetry.ended(ending, loop.time())
            log.info(
                "session end",
                extra={
                    "request_id": request_id,
                    "client_trace_id": parsed.client_trace_id,
                    "outcome": ending.failure.value if ending else "internal",
                    "close_code": ending.code if ending else None,
                    "close_reason": ending.reason if ending else None,
                    "finals": session.finals,
                    "backend_error_code": session.telemetry.cancel_code,
                    "duration_s": round(loop.time() - started, 3),
                },
            )
    return socket.response  # the 101, already sent; aiohttp finishes it
