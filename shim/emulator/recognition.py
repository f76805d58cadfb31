"""One recognition or translation WebSocket connection of the local Speech service.

Turns as the service runs them (usp-speech-service.md §6): ``turn.start`` first; hypotheses
and phrases as audio arrives; every message echoes the turn's X-RequestId. A turn ends with
``speech.endDetected``, the phrase that ends it and ``turn.end``: in once mode at its phrase,
in either mode at a silence timeout (:mod:`shim.emulator.silence`), or at the client's end of
audio. After a turn the service ended, the SDK starts the next one on the same connection
from the end of the last phrase (replaying what came after it), so the engines keep a
session's audio by connection id and a turn's offsets count from that point.

Audio nobody speaks in gets what the service sends: silence an empty phrase per timeout
(``InitialSilenceTimeout``; an empty successful phrase in continuous translation), and a
turn the client ends without any phrase one covering its audio (``NoMatch`` if speech was
heard). A continuous turn the client ends after its phrases gets an ``EndOfDictation``.

What a session acknowledged is kept per X-ConnectionId when the service closes a connection
(:mod:`shim.emulator.resume`), so the SDK's reconnect resumes where it replays from; a
stream that starts part-way into a session's audio says where (``audioOriginTicks``).

This module runs a connection's turns (messages in, audio, silence, ends); what a
``speech.context`` asks for and the bodies of a turn's messages are in
:mod:`shim.emulator.turn`, sending and the scripted faults in :mod:`shim.emulator.outbox`.
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from shim.audiotime import BYTES_PER_SECOND, TICKS_PER_MS, TICKS_PER_SECOND, bytes_to_ticks
from shim.emulator import usp, usp_bodies, voices
from shim.emulator.connection import UspConnection
from shim.emulator.engines.base import (
    BadInput,
    Engine,
    Hypothesis,
    Phrase,
    RecognitionEvent,
    SpeechStarted,
    StreamParams,
)
from shim.emulator.engines.scenario import Scenario
from shim.emulator.faults import FaultPlan
from shim.emulator.metrics import ServiceMetrics
from shim.emulator.outbox import Outbox
from shim.emulator.resume import ResumePoints, origin_of
from shim.emulator.silence import SilenceTimeouts, whole_ms
from shim.emulator.turn import (
    Kind,
    Turn,
    checked_targets,
    dig,
    filtered,
    hypothesis_message,
    identified,
    phrase_message,
    phrase_path,
    read_turn_request,
    silence_message,
)
from shim.pcmformat import PCM_16K_MONO, FormatError, PcmConverter

log = logging.getLogger("shim.emulator")


class RecognitionConnection(UspConnection):
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        kind: Kind,
        engine: Engine,
        scenario: Scenario,
        faults: FaultPlan,
        connection_id: str,
        default_language: str | None,
        default_mode_interactive: bool,
        resume: ResumePoints | None = None,
        metrics: ServiceMetrics | None = None,
        silence: SilenceTimeouts | None = None,
    ) -> None:
        self._silence = silence or SilenceTimeouts()
        self._metrics = metrics or ServiceMetrics()
        self._turns_started = 0
        self._ws = ws
        self._query = request.query
        self._kind = kind
        self._engine = engine
        self._scenario = scenario
        self._faults = faults
        self._connection_id = connection_id
        self._default_language = default_language
        self._default_interactive = default_mode_interactive
        self._turn: Turn | None = None
        self._resume = resume if resume is not None else ResumePoints()
        self._origin: int | None = None  # where the stream starts in the session's audio
        self._ack = self._resume.get(connection_id)  # absolute ticks acknowledged
        self._received = self._ack  # absolute ticks: the end of the audio received so far
        self._phrases = 0  # on this connection, for after_phrase / on_phrase faults
        self._out = Outbox(
            ws, request, connection_id=connection_id, resume=self._resume, metrics=self._metrics
        )
        self.label = f"connection {connection_id}"

    async def _on_text(self, message: usp.Message) -> None:
        path = message.path.lower()
        if path == "speech.config":
            message.json()  # must parse; nothing in it changes what we answer
        elif path == "speech.context":
            await self._start_turn(message)
        elif path == "event":
            body = message.json()
            if dig(body, "name") == "updateLanguage" and self._turn is not None:
                requested = tuple(str(t) for t in body.get("to") or ())
                targets, self._turn.translation_failure = checked_targets(requested)
                self._turn.targets = targets
                self._turn.stream.set_targets(targets)
                if "synthesis" in body:  # the JavaScript SDK repeats its voice per target
                    self._turn.synthesized = voices.synthesized_languages(
                        body["synthesis"], targets
                    )
        elif path == "telemetry":
            pass
        else:
            raise BadInput(f"unexpected message path {message.path!r}")

    async def _on_binary(self, message: usp.Message) -> None:
        if message.path.lower() != "audio":
            raise BadInput(f"unexpected binary message path {message.path!r}")
        turn = self._turn
        if turn is None:
            raise BadInput("audio before speech.context")
        if message.request_id != turn.request_id:
            log.info("connection %s: audio for a stale turn ignored", self._connection_id)
            return
        payload = message.body
        assert isinstance(payload, bytes)
        if turn.audio_frames == 0:
            try:
                fmt, payload = usp_bodies.read_wav_header(payload)
            except FormatError as error:
                raise BadInput(f"Unsupported audio format: {error}") from None
            turn.converter = PcmConverter(fmt)
            if fmt != PCM_16K_MONO:
                log.info("turn %s: audio is %s", turn.request_id, fmt.name)
        turn.audio_frames += 1
        turn.received_bytes += len(payload)  # (also what arrives after the turn ended)
        received = turn.received_bytes * TICKS_PER_SECOND // turn.converter.format.byte_rate
        self._received = max(self._received, turn.base + received)
        if turn.ended or self._out.hung:
            return
        if message.body == b"":
            await self._end_of_audio(turn)
            return
        await self._feed(turn, turn.converter.convert(payload))

    async def _feed(self, turn: Turn, pcm: bytes) -> None:
        """16 kHz mono 16-bit PCM for the turn's recognition."""
        turn.audio_bytes += len(pcm)
        self._metrics.audio.inc(len(pcm) / BYTES_PER_SECOND)
        await self._emit(turn, await turn.stream.feed(pcm))
        await self._check_silence(turn)

    # ---- turns ---------------------------------------------------------------------------
    async def _start_turn(self, message: usp.Message) -> None:
        request_id = message.request_id
        if not request_id:
            raise BadInput("speech.context without X-RequestId")
        context = message.json() or {}
        log.debug("speech.context %s: %s", request_id, message.body)
        if not isinstance(context, dict):
            raise BadInput("speech.context body is not a JSON object")
        request = read_turn_request(
            context,
            self._query,
            kind=self._kind,
            default_language=self._default_language,
            default_interactive=self._default_interactive,
            silence=self._silence,
        )
        if self._origin is None:
            try:
                self._origin = origin_of(self._query)
            except ValueError as exc:
                raise BadInput(str(exc)) from None
            self._ack = max(self._ack, self._origin)
            self._received = max(self._received, self._origin)
        if request.continuation is not None:
            # the Python SDK says where its audio resumes, counted from the stream's start
            base = self._origin + request.continuation
        elif request.interactive and self._turns_started:
            # The JavaScript SDK's next recognizeOnce on this connection sends its stream on
            # from where it stopped reading, not a replay, and counts offsets from there.
            base = self._received
        else:
            base = self._ack  # a continuous turn after one the service ended: a replay
        params = StreamParams(
            session_id=self._connection_id,
            language=request.language,
            targets=request.targets,
            start_ticks=base,
            segmentation_silence_ms=request.segmentation_silence_ms,
            scenario=self._scenario,
            phrases=request.phrases,
            synthesized=tuple(request.synthesized),
        )
        self._turn = Turn.of(request_id, request, self._engine.open_stream(params), base)
        self._out.request_id = request_id
        log.info(
            "turn %s connection %s: %s %s -> %s, base %d ms%s",
            request_id,
            self._connection_id,
            "interactive" if request.interactive else "conversation",
            request.language,
            ",".join(request.targets) or "-",
            base // TICKS_PER_MS,
            " (continuation)" if request.continuation is not None else "",
        )
        self._metrics.turns.inc()
        if request.continuation is not None or (self._turns_started == 0 and base > self._origin):
            self._metrics.continuations.inc()  # a reconnect resuming earlier audio
        self._turns_started += 1
        await self._out.text("turn.start", {"context": {"serviceTag": uuid.uuid4().hex}})
        for fault in self._faults.at_turn_start():
            await self._out.apply(fault, self._ack)

    async def _end_of_audio(self, turn: Turn) -> None:
        """The client ended its audio (its stream closed, or it stopped)."""
        rest = turn.converter.flush()  # the resampler's last samples
        if rest:
            await self._feed(turn, rest)
            if turn.ended:
                return
        events = await turn.stream.finish()
        await self._emit(turn, events)
        if not turn.interactive:
            self._resume.forget(self._connection_id)  # the session's audio is over
        if turn.ended:
            return  # a once-mode phrase at the end of audio ended it already
        end = whole_ms(turn.base + bytes_to_ticks(turn.audio_bytes))
        if turn.phrases == 0 and turn.audio_bytes > 0:
            # A turn always answers its audio: what it heard, if nothing else.
            heard = turn.speech_detected or any(isinstance(e, SpeechStarted) for e in events)
            if not heard:
                await self._silence_phrase(turn, turn.base, end - turn.base)
                return
            if not turn.interactive:  # (in once mode the phrase ends the turn itself)
                await self._end_of_speech(turn, end)
            await self._phrase(turn, Phrase(turn.base, end - turn.base, "", {}, "NoMatch"))
            if not turn.ended:
                await self._end_turn(turn)
            return
        await self._out.text("speech.endDetected", {"Offset": end - turn.base})
        if not turn.interactive and turn.phrases:
            tail = max(0, end - self._ack)
            await self._out.text(
                phrase_path(turn),
                usp_bodies.end_of_dictation(self._ack, tail, turn.base),
                turn,
            )
            self._ack = max(self._ack, end)
        await self._end_turn(turn)

    async def _end_turn(self, turn: Turn) -> None:
        await self._out.text("turn.end", {})
        turn.ended = True
        log.info(
            "turn %s ended: %d phrases, %.2f s of audio",
            turn.request_id,
            turn.phrases,
            turn.audio_bytes / BYTES_PER_SECOND,
        )

    async def _check_silence(self, turn: Turn) -> None:
        """End the turn when its silence has lasted a timeout (:mod:`shim.emulator.silence`)."""
        if turn.end_detected or (turn.interactive and turn.phrases):
            return
        quiet = turn.stream.quiet()
        heard = turn.speech_detected or turn.phrases > 0
        due = turn.silence.due(max(quiet.start, self._ack, turn.base), quiet.end, heard)
        if due is not None:
            await self._silence_phrase(turn, *due)

    async def _silence_phrase(self, turn: Turn, offset: int, duration: int) -> None:
        """An empty phrase for silence, which ends the turn."""
        await self._end_of_speech(turn, offset + duration)
        turn.phrases += 1
        path, body, status = silence_message(turn, offset, duration)
        self._metrics.phrases.labels(status).inc()
        await self._out.text(path, body, turn)
        self._ack = max(self._ack, offset + duration)
        await self._end_turn(turn)

    async def _end_of_speech(self, turn: Turn, end: int) -> None:
        """The service ends the turn at ``end`` (absolute ticks): ``speech.endDetected``
        comes before the phrase that ends it (sdk-js "Event Tests (RecognizeOnce)": speech
        end, then recognized, then session stopped), and ``turn.end`` after it, without
        waiting for the client: the JavaScript SDK goes on sending audio until ``turn.end``
        (then starts its next turn, replaying from the last phrase); the Python SDK sends
        the 0-byte end of the turn's audio, which arrives for the ended turn and is ignored."""
        turn.end_detected = True
        await self._out.text("speech.endDetected", {"Offset": end - turn.base})

    async def _emit(self, turn: Turn, events: list[RecognitionEvent]) -> None:
        for event in events:
            if turn.interactive and turn.phrases:
                return  # once mode: one phrase per turn
            if isinstance(event, SpeechStarted | Hypothesis) or (
                isinstance(event, Phrase) and event.status == usp_bodies.SUCCESS
            ):
                turn.speech_detected = True
            if isinstance(event, SpeechStarted):
                await self._out.text("speech.startDetected", {"Offset": event.offset - turn.base})
            elif isinstance(event, Hypothesis):
                event = identified(turn, (await filtered(self._engine, turn, event))[0])
                self._metrics.hypotheses.inc()
                await self._out.text(*hypothesis_message(turn, event), turn)
            elif isinstance(event, Phrase):
                await self._phrase(turn, event)

    async def _phrase(self, turn: Turn, phrase: Phrase) -> None:
        self._phrases += 1
        turn.phrases += 1
        for fault in self._faults.on_phrase(self._phrases):
            if fault.lose:
                self._metrics.fault(lose=True)
                log.info("fault: phrase %d of the connection lost", self._phrases)
                return
            self._metrics.fault(recognition_status=fault.recognition_status or "NoMatch")
            phrase = Phrase(
                phrase.offset, phrase.duration, "", {}, fault.recognition_status or "NoMatch"
            )
        phrase, spoken = await filtered(self._engine, turn, phrase)
        phrase = identified(turn, phrase)
        self._metrics.phrases.labels(phrase.status).inc()
        if turn.interactive:  # once mode: its phrase ends the turn
            await self._end_of_speech(turn, max(self._ack, phrase.offset + phrase.duration))
        await self._out.text(*phrase_message(turn, phrase), turn)
        self._ack = max(self._ack, phrase.offset + phrase.duration)
        if (
            turn.kind is Kind.TRANSLATION
            and phrase.status == usp_bodies.SUCCESS
            and turn.translation_failure is None
        ):
            await self._out.synthesis(turn, spoken, self._engine, self._scenario)
        if turn.interactive:
            await self._end_turn(turn)
        for fault in self._faults.after_phrase(self._phrases):
            await self._out.apply(fault, self._ack)
