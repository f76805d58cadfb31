"""The executor of one legacy session: it carries out the session core's commands, nothing else.

Every decision belongs to the sans-I/O core, :class:`shim.legacy.conduct.SessionConduct`;
this module turns what happens into its events and executes its commands. The socket pushes
client frames as it parses them (once the core says :class:`StartReading`); one small task,
the writer, reports each result it has written; a timer fires at the core's next deadline
(the write timeout among them); the Speech SDK bridge delivers backend events on the loop.
Commands run in the order the core gave them: audio to the bridge at once, results and the
final Close through one ordered outbox. The dispatch ends in ``assert_never``: a command the
executor does not carry out fails the type check.

The session sees its client and its backend only through :class:`ClientSocket` and
:class:`SessionSpeech` (``shim/server/legacy_socket.py``, ``shim/server/session_backend.py``),
so its own tests can give it others.

A fault of ours (an exception while handling an event or writing) ends that one session
1011 ``internal server error`` with a logged traceback (:meth:`TranslateSession._fail`):
never a connection dropped without a Close (which some clients read as 1000), never a session
left hanging, and the other sessions go on.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, assert_never

from aiohttp import web

from shim.auth.authenticator import Authenticator
from shim.catalog.catalog import CatalogSource
from shim.legacy.conduct import SessionConduct
from shim.legacy.errors import Failure, close_for
from shim.legacy.request import AudioFormat, SessionRequest
from shim.legacy.tts import fragment
from shim.legacy.vocabulary import (
    Abandon,
    AudioReceived,
    BackendLost,
    BackendReplaced,
    CheckClient,
    ClientClosed,
    ClientEnded,
    ClientGone,
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
    Send,
    SendResult,
    SendTts,
    ShutdownRequested,
    StartReading,
    TextReceived,
    Tick,
    Warn,
    WriteAudio,
)
from shim.mp3 import encode_mp3
from shim.server.backend_recorder import BackendRecorder
from shim.server.edge import ConnectionCounts
from shim.server.legacy_socket import ClientClose, ClientEnd, Received
from shim.server.placement import Placement, Seat
from shim.server.session_backend import SessionBackend
from shim.server.telemetry import BackendHealth, SessionTelemetry
from shim.server.traffic import SessionTraffic, Traffic
from shim.speech.bridge import SessionOptions
from shim.speech.events import BackendStarted, BackendStartFailed, BridgeEvent
from shim.speech.runtime import SpeechRuntime
from shim.speech.synthesis import Spoken
from shim.wsframes import DataChunk, InvalidPayload, Opcode

log = logging.getLogger("shim.session")


class PairCheck(Protocol):
    def __call__(self, source_locale: str, target_language: str) -> str | None:
        """None when the backend serves the pair, else why not."""
        ...


class ClientSocket(Protocol):
    """What a session needs of its client's WebSocket (:class:`LegacySocket`)."""

    on_gone: Callable[[], None]

    @property
    def response(self) -> web.StreamResponse: ...
    def start(self, consumer: Callable[[Received], None]) -> None: ...
    def hold(self) -> None: ...
    def release(self) -> None: ...
    def ping(self) -> None: ...
    def abort(self) -> None: ...
    def detach(self) -> None: ...
    def discard_input(self) -> None: ...
    async def send_text(self, text: bytes) -> bool: ...
    async def send_fragmented_binary(self, fragments: list[bytes]) -> bool: ...
    async def close(
        self, code: int, reason: str = "", on_sent: Callable[[], None] = ...
    ) -> None: ...


class SessionSpeech(Protocol):
    """What a session needs of its backend across moves (:class:`SessionBackend`)."""

    async def start(self) -> bool: ...
    def write(self, pcm: bytes) -> None: ...
    def end_audio(self) -> None: ...
    def keep_from(self, tick: int) -> None: ...
    def move(self, failure: Failure, code: str | None, resume_at: int) -> int | None: ...
    def resynthesize(
        self,
        final_id: str,
        text: str,
        voice: str,
        timeout: float,
        on_spoken: Callable[[Spoken], None],
    ) -> None: ...
    async def close(self, *, abandon: bool) -> None: ...


# A session's backend, made when it runs: (its event sink, connected callback) → the backend.
SpeechFactory = Callable[[Callable[[BridgeEvent, float], None], Callable[[], None]], SessionSpeech]


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
    connections: ConnectionCounts | None = None  # the legacy connection cap (shim/server/edge.py)
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
_Outgoing = tuple[Send | CloseSession, float | None]


def client_event(item: Received) -> Event:
    """What the socket parsed, as the core's event."""
    if isinstance(item, DataChunk):
        if item.opcode == Opcode.TEXT:
            return TextReceived()
        return AudioReceived(item.data, item.message_start)
    if isinstance(item, ClientClose):
        return ClientClosed(item.code)
    if isinstance(item, ClientEnd):
        return ClientEnded()
    return ProtocolViolation(str(item), isinstance(item, InvalidPayload))


def session_backend(
    service: TranslateService,
    request: SessionRequest,
    seat: Seat,
    request_id: str,
    sink: Callable[[BridgeEvent, float], None],
    connected: Callable[[], None],
) -> SessionSpeech:
    """A session's backend on its seat's resource (moving with it): the default
    :data:`SpeechFactory`."""
    return SessionBackend(
        seat,
        SessionOptions(
            request.source_locale,
            request.target_language,
            request.voice if request.text_to_speech else None,
            request.profanity,
        ),
        sink,
        runtime=service.runtime,
        request_id=request_id,
        on_connected=connected,
    )


class TranslateSession:
    def __init__(
        self,
        service: TranslateService,
        request: SessionRequest,
        seat: Seat,
        socket: ClientSocket,
        request_id: str,
        on_closed: Callable[[], None] = lambda: None,
        traffic: SessionTraffic | None = None,
        *,
        speech: SpeechFactory | None = None,
    ) -> None:
        """``speech``: makes the session's backend (by default a :class:`SessionBackend` on
        ``seat``)."""
        LIVE_SESSIONS.add(self)
        self._traffic = traffic  # its capture and shadow, if it has either
        self._on_closed = on_closed  # the client has its close: its session slot is free
        self._service = service
        self._request = request
        self._seat = seat
        self._socket = socket
        self._make_speech = speech or functools.partial(
            session_backend, service, request, seat, request_id
        )
        self.request_id = request_id
        self._loop = asyncio.get_running_loop()
        self._conduct = SessionConduct(
            request, service.limits, self._loop.time(), may_move=seat.pooled
        )
        self._speech: SessionSpeech | None = None
        self._outbox: collections.deque[_Outgoing] = collections.deque()
        self._outbox_ready = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._finished = asyncio.Event()
        self._abandoned = False
        self._fault: Ending | None = None  # a fault of ours ended the session (_fail)
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
        return self._fault or self._conduct.ending

    def shutdown(self) -> None:
        """The drain is over: close 1001 (the client may retry elsewhere)."""
        self._handle(ShutdownRequested())

    # ---- the core's events and commands ------------------------------------------------------
    def _handle(self, event: Event) -> None:
        if self._fault is not None:
            return
        try:
            for command in self._conduct.handle(event, self._loop.time()):
                self._execute(command)
            self._reschedule()
        except Exception:
            self._fail(f"handling {type(event).__name__}")

    def _fail(self, doing: str) -> None:
        """A fault of ours (module docstring): log it, drop what waits to be sent and close
        1011, once. Called in an ``except`` block (the traceback is logged)."""
        log.exception("session %s: internal error %s", self.request_id, doing)
        if self._fault is not None:
            return
        reason = close_for(Failure.INTERNAL).reason
        self._fault = Ending(Failure.INTERNAL, 1011, reason)
        self._abandoned = True  # the backend's results are nobody's any more
        self._cancel_timer()
        self._outbox.clear()
        task = self._loop.create_task(self._close_after_fault(reason))
        self._starts.add(task)  # awaited when the session ends, as a start is
        task.add_done_callback(self._starts.discard)

    async def _close_after_fault(self, reason: str) -> None:
        try:
            await self._socket.close(1011, reason, on_sent=self._free_slot)
        finally:
            self._finished.set()

    def _execute(self, command: Command) -> None:
        if isinstance(command, WriteAudio):
            self._write_audio(command.pcm)
        elif isinstance(command, (SendResult, SendTts, CloseSession)):
            self._outbox.append((command, self._event_at))
            self._outbox_ready.set()
        elif isinstance(command, EndAudio):
            self._end_audio()
        elif isinstance(command, StartReading):
            self._socket.start(self._client_data)
        elif isinstance(command, PauseReading):
            self._socket.hold()
        elif isinstance(command, ResumeReading):
            self._socket.release()
        elif isinstance(command, CheckClient):
            self._socket.ping()
        elif isinstance(command, Abandon):
            self._abandon(command.reason)
        elif isinstance(command, Warn):
            log.warning("session %s: %s", self.request_id, command.message)
        elif isinstance(command, KeepAudioFrom):
            if self._speech is not None:
                self._speech.keep_from(command.tick)
        elif isinstance(command, BackendLost):
            self._move(command)
        elif isinstance(command, Resynthesize):
            self._resynthesize(command)
        else:
            assert_never(command)

    def _write_audio(self, pcm: bytes) -> None:
        self.telemetry.audio_written(pcm, self._loop.time())
        if self._recorder is not None:
            self._recorder.audio(pcm)
        if self._speech is not None:
            self._speech.write(pcm)
        if self._traffic is not None:
            self._traffic.audio(pcm)

    def _end_audio(self) -> None:
        if self._speech is not None:
            self._speech.end_audio()
        if self._traffic is not None:
            self._traffic.end_audio()

    def _abandon(self, reason: str) -> None:
        log.info("session %s: %s", self.request_id, reason)
        self._abandoned = True
        self._outbox.clear()
        self._socket.abort()
        self._finished.set()

    def _move(self, lost: BackendLost) -> None:
        if self._speech is None:
            return
        start = self._speech.move(lost.failure, lost.code, lost.resume_at)
        if start is None:
            self._handle(NoOtherBackend())
            return
        self._handle(BackendReplaced(start))
        task = asyncio.create_task(self._start_backend())
        self._starts.add(task)
        task.add_done_callback(self._starts.discard)

    def _resynthesize(self, command: Resynthesize) -> None:
        if self._speech is None:
            return
        voice = self._request.voice or ""
        timeout = self._service.limits.tts_timeout
        self._speech.resynthesize(command.final_id, command.text, voice, timeout, self._spoken)

    def _spoken(self, spoken: Spoken) -> None:
        """A final spoken again on the resource the session moved to."""
        if spoken.audio is not None:
            self._handle(Resynthesized(spoken.audio))
        else:
            self._handle(ResynthesisFailed(spoken.code))

    def _backend_event(self, event: BridgeEvent, at: float) -> None:
        try:
            if self._recorder is not None:
                self._recorder.observe(event)
            self.telemetry.backend_event(event, self._loop.time())
        except Exception:
            self._fail(f"observing {type(event).__name__}")
        self._event_at = at
        try:
            self._handle(event)
        finally:
            self._event_at = None

    # ---- the session ----------------------------------------------------------------------
    async def run(self) -> Ending | None:
        self._socket.on_gone = lambda: self._handle(ClientGone())
        self._reschedule()
        tasks = [asyncio.create_task(self._write())]
        speech: SessionSpeech | None = None
        try:
            try:
                self._speech = speech = self._make_speech(
                    self._backend_event, self.telemetry.connected
                )
                await self._start_backend()
            except Exception:
                self._fail("starting the session")
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
            if speech is not None:
                await speech.close(abandon=self._abandoned)
            if self._recorder is not None:
                await self._loop.run_in_executor(self._service.executor, self._recorder.save)
            self._speech = None  # an abandoned teardown goes on without holding this session
        return self.ending

    async def _start_backend(self) -> None:
        """Start the backend (the first one, or the next after a move): the core hears how
        it went (it starts reading the client once one has started)."""
        assert self._speech is not None
        started = await self._speech.start()
        self._handle(BackendStarted() if started else BackendStartFailed())

    def _client_data(self, item: Received) -> None:
        """Client frames, as the socket parses them (it holds them while paused)."""
        try:
            event = client_event(item)
        except Exception:
            self._fail("reading a client frame")
            return
        self._handle(event)

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
        """The ordered outbox: results, TTS messages, then the Close. A write that makes no
        progress is the core's to judge (its write timeout): the writer just waits."""
        try:
            await self._write_outbox()
        except Exception:
            self._fail("writing to the client")

    async def _write_outbox(self) -> None:
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
            sent = await self._send(command)
            if sent is None:
                self._handle(ClientGone())
                return
            self.telemetry.sent(command, sent, result_at)
            self._handle(Delivered(command.size))

    async def _send(self, command: Send) -> int | None:
        """Write one result or TTS message; its size in bytes, None if the client is gone."""
        if isinstance(command, SendResult):
            data = command.text.encode("utf-8")
            return len(data) if await self._socket.send_text(data) else None
        payload = command.wav
        if command.audio_format is AudioFormat.MP3:
            payload = await self._loop.run_in_executor(self._service.executor, encode_mp3, payload)
        return (
            len(payload) if await self._socket.send_fragmented_binary(fragment(payload)) else None
        )
