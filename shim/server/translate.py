"""``GET /speech/translate``: one legacy session, from handshake to close.

The handshake is validated before the upgrade (400/401/429/503 with a JSON body). After it,
three tasks cooperate: the reader (client frames → audio normaliser → SDK push stream), the
consumer (SDK events → :class:`LegacySession` → frames, in order) and a watchdog (idle and
session-length limits). Whoever sees the end first records a :class:`Decision`; the session
then flushes if the decision allows it (ER1) and closes with the decided code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiohttp import web

from shim.auth.authenticator import Authenticator, Grant
from shim.legacy.audio import AudioNormalizer
from shim.legacy.errors import (
    Failure,
    HandshakeError,
    LegacyError,
    SessionError,
    close_for,
    close_for_cancellation,
    close_for_error,
)
from shim.legacy.request import AudioFormat, SessionRequest, parse_request
from shim.legacy.session import LegacySession, Outgoing, TextOut, TtsOut
from shim.legacy.tts import fragment
from shim.server.backend_recorder import BackendRecorder
from shim.server.languages_routes import CatalogSource, error_response
from shim.server.legacy_socket import HandshakeRejected, LegacySocket
from shim.server.mp3 import encode_mp3
from shim.speech.bridge import Backend, SessionOptions, SpeechSession
from shim.speech.events import (
    BridgeEvent,
    Canceled,
    Recognized,
    Recognizing,
    Stopped,
    SynthesisAudio,
    SynthesisCompleted,
)
from shim.wsframes import FrameError, Opcode

log = logging.getLogger("shim.session")


class PairCheck(Protocol):
    def __call__(self, source_locale: str, target_language: str) -> str | None:
        """None when the backend serves the pair, else why not."""
        ...


@dataclass
class SessionLimits:
    idle_timeout: float = 60.0  # no audio for this long → close 1000 (ER2)
    max_session: float = 90 * 60.0  # the legacy service's cap (ER2)
    flush_timeout: float = 30.0  # after the client's close: wait this long for results (ER1)
    tts_timeout: float = 15.0  # a final's synthesis that never completes is given up


@dataclass
class TranslateService:
    """Everything the endpoint needs, built once by the app factory."""

    catalog: CatalogSource
    authenticator: Authenticator
    backend_for: Callable[[Grant], Backend]
    executor: Executor  # MP3 encoding (blocking, off the loop)
    limits: SessionLimits = field(default_factory=SessionLimits)
    pair_check: PairCheck | None = None
    record_dir: Path | None = None  # serve --record-backend
    sessions: set[TranslateSession] = field(default_factory=set)
    draining: bool = False
    started: int = 0


@dataclass(frozen=True)
class Decision:
    code: int | None  # None: the connection is already gone
    reason: str
    flush: bool  # send the results still coming before closing


_END = object()


class TranslateSession:
    def __init__(
        self,
        service: TranslateService,
        request: SessionRequest,
        grant: Grant,
        socket: LegacySocket,
        request_id: str,
        on_closed: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_closed = on_closed  # the client has its close: its session slot is free
        self._service = service
        self._request = request
        self._grant = grant
        self._socket = socket
        self.request_id = request_id
        self._legacy = LegacySession(request)
        self._normalizer = AudioNormalizer()
        self._events: asyncio.Queue[BridgeEvent | object] = asyncio.Queue()
        self._decision: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._last_audio = time.monotonic()
        self._started = time.monotonic()
        self._audio_ended = False
        self._speech: SpeechSession | None = None
        self._recorder = (
            BackendRecorder(
                service.record_dir, request_id, request.source_locale, request.target_language
            )
            if service.record_dir is not None
            else None
        )

    def decide(self, decision: Decision) -> None:
        if not self._decision.done():
            self._decision.set_result(decision)

    def shutdown(self, reason: str = "server shutting down") -> None:
        closing = close_for(Failure.SERVER_SHUTDOWN, reason)
        self.decide(Decision(closing.code, closing.reason, flush=False))

    # ---- the session ----------------------------------------------------------------------
    async def run(self) -> Decision:
        request = self._request
        options = SessionOptions(
            request.source_locale,
            request.target_language,
            request.voice if request.text_to_speech else None,
            request.profanity,
            partials=request.partial,
        )
        self._speech = SpeechSession(
            self._service.backend_for(self._grant),
            options,
            self._events.put_nowait,
            request_id=self.request_id,
        )
        try:
            await self._speech.start()
        except Exception:
            log.exception("session %s: the speech backend could not start", self.request_id)
            closing = close_for(Failure.BACKEND_ERROR)
            await self._socket.close(closing.code, closing.reason)
            await self._speech.close()
            return Decision(closing.code, closing.reason, False)
        consumer = asyncio.create_task(self._consume())
        tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._watch())]
        try:
            decision = await self._decision
            for task in tasks:
                task.cancel()
            await self._finish(decision, consumer)
            self._on_closed()
            if self._recorder is not None:
                await asyncio.get_running_loop().run_in_executor(
                    self._service.executor, self._recorder.save
                )
            return decision
        finally:
            for task in [*tasks, consumer]:
                task.cancel()
            await asyncio.gather(*tasks, consumer, return_exceptions=True)
            await self._speech.close()

    async def _finish(self, decision: Decision, consumer: asyncio.Task[None]) -> None:
        self._end_audio()
        if decision.flush:
            assert self._speech is not None
            if not await self._speech.wait_stopped(self._service.limits.flush_timeout):
                log.warning("session %s: results still pending at flush timeout", self.request_id)
        self._events.put_nowait(_END)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(consumer), self._service.limits.tts_timeout)
        if decision.code is not None:
            await self._socket.close(decision.code, decision.reason)

    def _end_audio(self) -> None:
        if self._audio_ended or self._speech is None:
            return
        self._audio_ended = True
        with contextlib.suppress(SessionError):
            self._speech.write(self._normalizer.finish())
        self._speech.end_audio()

    # ---- client → backend -------------------------------------------------------------------
    async def _read(self) -> None:
        assert self._speech is not None
        while True:
            frame = await self._socket.receive()
            if frame is None:
                self.decide(Decision(None, "connection lost", flush=False))
                return
            if isinstance(frame, FrameError):
                self.decide(Decision(frame.code, str(frame)[:120], flush=False))
                return
            if frame.opcode == Opcode.CLOSE:
                self.decide(Decision(1000, "", flush=True))
                return
            if frame.opcode == Opcode.TEXT:
                closing = close_for(
                    Failure.TEXT_FRAME, "text messages are not accepted: send audio as binary"
                )
                self.decide(Decision(closing.code, closing.reason, flush=False))
                return
            if frame.opcode == Opcode.BINARY:
                self._normalizer.start_message()
            self._last_audio = time.monotonic()
            try:
                self._speech.write(self._normalizer.feed(frame.payload))
            except SessionError as error:
                closing = close_for_error(error)
                self.decide(Decision(closing.code, closing.reason, flush=False))
                return

    async def _watch(self) -> None:
        limits = self._service.limits
        while True:
            now = time.monotonic()
            idle_left = limits.idle_timeout - (now - self._last_audio)
            cap_left = limits.max_session - (now - self._started)
            if cap_left <= 0:
                closing = close_for(Failure.SESSION_CAP, "session time limit reached")
                self.decide(Decision(closing.code, closing.reason, flush=True))
                return
            if idle_left <= 0:
                closing = close_for(Failure.IDLE_TIMEOUT, "no audio received: idle timeout")
                self.decide(Decision(closing.code, closing.reason, flush=True))
                return
            await asyncio.sleep(max(0.05, min(idle_left, cap_left)))

    # ---- backend → client -------------------------------------------------------------------
    async def _next_event(self) -> BridgeEvent | object:
        if not self._legacy.awaiting_tts:
            return await self._events.get()
        try:
            return await asyncio.wait_for(self._events.get(), self._service.limits.tts_timeout)
        except TimeoutError:
            log.warning(
                "session %s: synthesis did not complete; sending what arrived", self.request_id
            )
            await self._send(self._legacy.release())
            return await self._events.get()

    async def _consume(self) -> None:
        legacy = self._legacy
        while True:
            event = await self._next_event()
            if event is _END:
                await self._send(legacy.release())
                return
            if self._recorder is not None:
                self._recorder.observe(event)  # type: ignore[arg-type]
            try:
                if isinstance(event, Recognizing):
                    out = legacy.recognizing(
                        event.text, event.translation, event.offset, event.duration
                    )
                elif isinstance(event, Recognized) and event.silence:
                    out = []  # silence is not a false recognition: no legacy final
                elif isinstance(event, Recognized):
                    out = legacy.recognized(
                        event.matched, event.text, event.translation, event.offset, event.duration
                    )
                elif isinstance(event, SynthesisAudio):
                    out = legacy.synthesis_audio(event.audio)
                elif isinstance(event, SynthesisCompleted):
                    out = legacy.synthesis_completed()
                elif isinstance(event, Canceled):
                    out = legacy.release()
                    if event.reason == "Error":
                        log.warning("session %s: backend canceled: %s", self.request_id, event.code)
                        closing = close_for_cancellation(event.code)
                        self.decide(Decision(closing.code, closing.reason, flush=False))
                elif isinstance(event, Stopped):
                    out = legacy.release()
                    if not self._audio_ended:
                        closing = close_for(Failure.BACKEND_ERROR)
                        self.decide(Decision(closing.code, closing.reason, flush=False))
                else:
                    out = []
            except LegacyError as error:
                closing = close_for_error(error)
                self.decide(Decision(closing.code, closing.reason, flush=False))
                return
            await self._send(out)

    async def _send(self, out: list[Outgoing]) -> None:
        for item in out:
            if isinstance(item, TextOut):
                await self._socket.send_text(item.text)
            elif isinstance(item, TtsOut):
                payload = item.wav
                if self._request.audio_format is AudioFormat.MP3:
                    loop = asyncio.get_running_loop()
                    payload = await loop.run_in_executor(
                        self._service.executor, encode_mp3, payload
                    )
                await self._socket.send_fragmented_binary(fragment(payload))

    @property
    def finals(self) -> int:
        return self._legacy.finals_sent


async def translate(request: web.Request, service: TranslateService) -> web.StreamResponse:
    request_id = uuid.uuid4().hex
    try:
        if service.draining:
            raise HandshakeError(Failure.SERVER_UNAVAILABLE, "server is shutting down; retry")
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
    except LegacyError as error:
        log.info("request %s refused: %s", request_id, error.message)
        response = error_response(error)
        response.headers["X-RequestId"] = request_id
        return response
    with slot:
        try:
            socket = await LegacySocket.accept(request, {"X-RequestId": request_id})
        except HandshakeRejected as rejected:
            response = error_response(HandshakeError(Failure.BAD_PARAMETER, str(rejected)))
            response.headers["X-RequestId"] = request_id
            return response
        session = TranslateSession(service, parsed, grant, socket, request_id, slot.release)
        service.sessions.add(session)
        service.started += 1
        started = time.monotonic()
        log.info(
            "session %s start: from=%s to=%s features=%s format=%s voice=%s client=%s trace=%s",
            request_id,
            parsed.source_locale,
            parsed.target_language,
            ",".join(sorted(f.value for f in parsed.features)) or "-",
            parsed.audio_format.value,
            parsed.voice or "-",
            grant.log_label,
            parsed.client_trace_id or "-",
        )
        decision = Decision(None, "", False)
        try:
            decision = await session.run()
        finally:
            service.sessions.discard(session)
            log.info(
                "session %s end: close %s %s, %d finals, %.1f s",
                request_id,
                decision.code,
                decision.reason or "-",
                session.finals,
                time.monotonic() - started,
            )
    return socket.response  # the 101, already sent; aiohttp finishes it
