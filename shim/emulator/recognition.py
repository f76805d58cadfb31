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
(:mod:`shim.emulator.resume`), so the SDK's reconnect resumes where it replays from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from shim.audiotime import BYTES_PER_SECOND, TICKS_PER_MS, TICKS_PER_SECOND, bytes_to_ticks
from shim.emulator import phrase_list, usp, usp_bodies, validation, voices
from shim.emulator.connection import StopConnection, UspConnection
from shim.emulator.engines.base import (
    BadInput,
    Engine,
    Hypothesis,
    Phrase,
    RecognitionEvent,
    RecognitionStream,
    SpeechStarted,
    StreamParams,
)
from shim.emulator.engines.scenario import Fault, Scenario
from shim.emulator.faults import FaultPlan
from shim.emulator.metrics import ServiceMetrics
from shim.emulator.profanity import RAW, marked_words
from shim.emulator.profanity import apply as apply_profanity
from shim.emulator.resume import ResumePoints
from shim.emulator.silence import SilenceTimeouts, TurnSilence, whole_ms
from shim.pcmformat import PCM_16K_MONO, FormatError, PcmConverter

log = logging.getLogger("shim.emulator")

_Text = TypeVar("_Text", Hypothesis, Phrase)


class Kind(enum.Enum):
    TRANSLATION = "translation"
    SPEECH = "speech"


@dataclass
class Turn:
    request_id: str
    stream: RecognitionStream
    base: int  # absolute ticks of the turn's first PCM byte
    interactive: bool
    targets: tuple[str, ...]
    synthesized: dict[str, str | None]  # language -> voice
    output: usp_bodies.Output
    kind: Kind  # what the turn asked for (the universal endpoint serves both)
    profanity: str
    language: str
    silence: TurnSilence
    speech_detected: bool = False
    audio_frames: int = 0
    audio_bytes: int = 0  # of 16 kHz mono 16-bit PCM, whatever the client sends
    received_bytes: int = 0  # as the client sends them, in its format
    converter: PcmConverter = dataclasses.field(default_factory=lambda: PcmConverter(PCM_16K_MONO))
    phrases: int = 0
    translation_failure: str | None = None  # an unknown target: every translation fails
    identify_at_start: bool = False  # language identification at the start only
    identified: str | None = None  # ... and what it found
    end_detected: bool = False  # the service ended the turn (speech.endDetected sent)
    ended: bool = False


_SILENCE = "InitialSilenceTimeout"


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _checked_targets(requested: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """The targets the engines see (unknown ones dropped), and why translation fails if any
    target is unknown (Translator refuses the whole request)."""
    unknown = validation.unknown_targets(requested)
    known = tuple(t for t in requested if t not in unknown)
    return known, validation.translation_failure(unknown)


def _identified(turn: Turn, event: _Text) -> _Text:
    """The event with the language identification's answer: what the engine heard, else the
    turn's first candidate; in ``DetectAtAudioStart`` mode the first answer stays."""
    if not turn.output.identify:
        return event
    language = turn.identified or event.language or turn.language
    if turn.identify_at_start:
        turn.identified = language
    return dataclasses.replace(event, language=language)


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


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
        self._request = request
        self._kind = kind
        self._engine = engine
        self._scenario = scenario
        self._faults = faults
        self._connection_id = connection_id
        self._default_language = default_language
        self._default_interactive = default_mode_interactive
        self._turn: Turn | None = None
        self._resume = resume if resume is not None else ResumePoints()
        self._ack = self._resume.get(connection_id)  # absolute ticks acknowledged
        self._received = self._ack  # absolute ticks: the end of the audio received so far
        self._phrases = 0  # on this connection, for after_phrase / on_phrase faults
        self._delay = 0.0
        self._hung = False
        self._send_lock = asyncio.Lock()
        self.label = f"connection {connection_id}"

    async def _on_text(self, message: usp.Message) -> None:
        path = message.path.lower()
        if path == "speech.config":
            message.json()  # must parse; nothing in it changes what we answer
        elif path == "speech.context":
            await self._start_turn(message)
        elif path == "event":
            body = message.json()
            if _dig(body, "name") == "updateLanguage" and self._turn is not None:
                requested = tuple(str(t) for t in body.get("to") or ())
                targets, self._turn.translation_failure = _checked_targets(requested)
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
        if turn.ended or self._hung:
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
        # With language identification the SDKs name the candidates instead of a language;
        # the engines recognise the first (the scripted one reports what a scenario says).
        candidates = tuple(str(c) for c in _dig(context, "languageId", "languages") or ())
        language = (
            _dig(context, "phraseDetection", "language")
            or (candidates[0] if candidates else None)
            or self._default_language
            or "en-US"
        )
        mode = str(_dig(context, "phraseDetection", "mode") or "").upper()
        interactive = mode == "INTERACTIVE" if mode else self._default_interactive
        silence = None
        for section in ("CONVERSATION", "INTERACTIVE", "DICTATION"):
            value = _dig(
                context, "phraseDetection", section, "segmentation", "segmentationSilenceTimeoutMs"
            )
            if value:
                silence = int(value)
        for locale in candidates or (str(language),):
            refusal = validation.locale_refusal(locale)
            if refusal is not None:
                raise BadInput(refusal)
        targets, translation_failure = _checked_targets(
            tuple(str(t) for t in _dig(context, "translation", "targetLanguages") or ())
        )
        synthesized = voices.synthesized_languages(
            _dig(context, "synthesis"), targets, self._request.query.get("voice")
        )
        offset = _dig(context, "continuation", "audio", "streams", "1", "offset")
        if offset is not None:
            base = int(offset)  # the Python SDK says where its audio resumes
        elif interactive and self._turns_started:
            # The JavaScript SDK's next recognizeOnce on this connection sends its stream on
            # from where it stopped reading, not a replay, and counts offsets from there.
            base = self._received
        else:
            base = self._ack  # a continuous turn after one the service ended: a replay
        # The universal v2 endpoint serves recognition too (the JavaScript SDK's
        # SpeechRecognizer uses it): a turn without a translation section gets speech.*.
        kind = self._kind
        if kind is Kind.TRANSLATION and _dig(context, "translation") is None:
            kind = Kind.SPEECH
        profanity = str(
            _dig(context, "phraseDetection", "enrichment", "profanity")
            or self._request.query.get("profanity")
            or "masked"
        )
        query = self._request.query
        silence_timeouts = self._silence.for_turn(
            interactive,
            _positive_int(
                _dig(context, "phraseDetection", "initialSilenceTimeout")
                or query.get("initialSilenceTimeoutMs")
            ),
            _positive_int(
                _dig(context, "phraseDetection", "trailingSilenceTimeout")
                or query.get("endSilenceTimeoutMs")
            ),
        )
        options = _dig(context, "phraseOutput", "detailed", "options") or ()
        words = "WordTimings" in options or query.get("wordLevelTimestamps") == "true"
        output = usp_bodies.Output(
            detailed=words
            or str(_dig(context, "phraseOutput", "format") or query.get("format") or "").lower()
            == "detailed",
            words=words,
            identify=bool(candidates),
        )
        params = StreamParams(
            session_id=self._connection_id,
            language=str(language),
            targets=targets,
            start_ticks=base,
            segmentation_silence_ms=silence,
            scenario=self._scenario,
            phrases=phrase_list.phrases(context),
            synthesized=tuple(synthesized),
        )
        self._turn = Turn(
            request_id,
            self._engine.open_stream(params),
            base,
            interactive,
            targets,
            synthesized,
            output,
            kind,
            profanity,
            str(language),
            silence_timeouts,
            translation_failure=translation_failure,
            identify_at_start=_dig(context, "languageId", "mode") != "DetectContinuous",
        )
        log.info(
            "turn %s connection %s: %s %s -> %s, base %d ms%s",
            request_id,
            self._connection_id,
            "interactive" if interactive else "conversation",
            language,
            ",".join(targets) or "-",
            base // TICKS_PER_MS,
            " (continuation)" if offset is not None else "",
        )
        self._metrics.turns.inc()
        if offset is not None or (self._turns_started == 0 and base > 0):
            self._metrics.continuations.inc()  # a reconnect resuming earlier audio
        self._turns_started += 1
        await self._send_text("turn.start", {"context": {"serviceTag": uuid.uuid4().hex}})
        for fault in self._faults.at_turn_start():
            await self._apply(fault)

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
        await self._send_text("speech.endDetected", {"Offset": end - turn.base})
        if not turn.interactive and turn.phrases:
            tail = max(0, end - self._ack)
            await self._send_text(
                self._phrase_path(turn),
                usp_bodies.end_of_dictation(self._ack, tail, turn.base),
                turn,
            )
            self._ack = max(self._ack, end)
        await self._end_turn(turn)

    async def _end_turn(self, turn: Turn) -> None:
        await self._send_text("turn.end", {})
        turn.ended = True
        log.info(
            "turn %s ended: %d phrases, %.2f s of audio",
            turn.request_id,
            turn.phrases,
            turn.audio_bytes / BYTES_PER_SECOND,
        )

    @staticmethod
    def _phrase_path(turn: Turn) -> str:
        return "translation.phrase" if turn.kind is Kind.TRANSLATION else "speech.phrase"

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
        """An empty phrase for silence, in the form the service uses on this path and mode,
        which ends the turn."""
        await self._end_of_speech(turn, offset + duration)
        turn.phrases += 1
        if turn.kind is Kind.TRANSLATION and not turn.interactive:
            self._metrics.phrases.labels(usp_bodies.SUCCESS).inc()
            body = usp_bodies.translation_silence(
                offset, duration, turn.base, turn.targets, turn.translation_failure
            )
        else:
            self._metrics.phrases.labels(_SILENCE).inc()
            phrase = Phrase(offset, duration, "", {}, _SILENCE)
            body = (
                usp_bodies.translation_phrase(phrase, turn.base, turn.interactive)
                if turn.kind is Kind.TRANSLATION
                else usp_bodies.speech_phrase(phrase, turn.base, turn.output, turn.interactive)
            )
        await self._send_text(self._phrase_path(turn), body, turn)
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
        await self._send_text("speech.endDetected", {"Offset": end - turn.base})

    async def _emit(self, turn: Turn, events: list[RecognitionEvent]) -> None:
        for event in events:
            if turn.interactive and turn.phrases:
                return  # once mode: one phrase per turn
            if isinstance(event, SpeechStarted | Hypothesis) or (
                isinstance(event, Phrase) and event.status == usp_bodies.SUCCESS
            ):
                turn.speech_detected = True
            if isinstance(event, SpeechStarted):
                await self._send_text("speech.startDetected", {"Offset": event.offset - turn.base})
            elif isinstance(event, Hypothesis):
                event = _identified(turn, (await self._filtered(turn, event))[0])
                self._metrics.hypotheses.inc()
                if turn.kind is Kind.TRANSLATION:
                    await self._send_text(
                        "translation.hypothesis",
                        usp_bodies.translation_hypothesis(
                            event, turn.base, turn.translation_failure, turn.output
                        ),
                        turn,
                    )
                else:
                    await self._send_text(
                        "speech.hypothesis",
                        usp_bodies.speech_hypothesis(event, turn.base, turn.output),
                    )
            elif isinstance(event, Phrase):
                await self._phrase(turn, event)

    async def _filtered(self, turn: Turn, event: _Text) -> tuple[_Text, dict[str, str]]:
        """The event with the session's profanity option applied, and its translations as
        synthesis should speak them (see :mod:`shim.emulator.profanity`)."""
        words = marked_words(event.text, turn.language)
        translated: dict[str, tuple[str, ...]] = {}
        if words and turn.profanity.lower() != RAW:
            for target in event.translations:
                translated[target] = await self._engine.translate_words(
                    words, turn.language, target
                )
        result = apply_profanity(
            event.text, turn.language, event.translations, turn.profanity, translated
        )
        shown = dataclasses.replace(event, text=result.text, translations=result.translations)
        return shown, result.spoken

    async def _phrase(self, turn: Turn, phrase: Phrase) -> None:
        self._phrases += 1
        turn.phrases += 1
        for fault in self._faults.on_phrase(self._phrases):
            self._metrics.fault(recognition_status=fault.recognition_status or "NoMatch")
            phrase = Phrase(
                phrase.offset, phrase.duration, "", {}, fault.recognition_status or "NoMatch"
            )
        phrase, spoken = await self._filtered(turn, phrase)
        phrase = _identified(turn, phrase)
        self._metrics.phrases.labels(phrase.status).inc()
        if turn.interactive:  # once mode: its phrase ends the turn
            await self._end_of_speech(turn, max(self._ack, phrase.offset + phrase.duration))
        if turn.kind is Kind.TRANSLATION:
            body = usp_bodies.translation_phrase(
                phrase, turn.base, turn.interactive, turn.translation_failure, turn.output
            )
            await self._send_text("translation.phrase", body, turn)
        else:
            await self._send_text(
                "speech.phrase",
                usp_bodies.speech_phrase(phrase, turn.base, turn.output, turn.interactive),
            )
        self._ack = max(self._ack, phrase.offset + phrase.duration)
        if (
            turn.kind is Kind.TRANSLATION
            and phrase.status == usp_bodies.SUCCESS
            and turn.translation_failure is None
        ):
            await self._synthesize(turn, spoken)
        if turn.interactive:
            await self._end_turn(turn)
        for fault in self._faults.after_phrase(self._phrases):
            await self._apply(fault)

    async def _synthesize(self, turn: Turn, spoken: dict[str, str]) -> None:
        for language, voice in turn.synthesized.items():
            text = spoken.get(language)
            if not text:
                continue
            failure = validation.voice_failure(voice)
            if failure is not None:
                await self._send_text(
                    "translation.synthesis.end", usp_bodies.synthesis_failure(failure)
                )
                continue
            result = await self._engine.synthesize(text, language, voice, self._scenario)
            self._metrics.syntheses.inc()
            chunk = self._scenario.synthesis_chunk_ms * 32
            chunk -= chunk % 2
            # Like the service: several chunks, each a WAV file with its own header.
            for start in range(0, len(result.pcm), chunk):
                pcm = result.pcm[start : start + chunk]
                await self._send_binary(
                    "translation.synthesis", usp_bodies.wav_header(len(pcm)) + pcm
                )
            await self._send_text("translation.synthesis.end", {"SynthesisStatus": "Success"})

    # ---- faults and sending ------------------------------------------------------------------
    async def _apply(self, fault: Fault) -> None:
        log.info("connection %s: fault %s", self._connection_id, fault.key)
        self._metrics.fault(
            close_code=fault.close_code,
            delay_ms=fault.delay_ms,
            hang=bool(fault.hang),
            reset=bool(fault.reset),
        )
        if fault.delay_ms is not None:
            self._delay = fault.delay_ms / 1000
        if fault.hang:
            self._hung = True
        if fault.reset:
            transport = self._request.transport
            if transport is not None:
                transport.abort()
            raise StopConnection
        if fault.close_code is not None:
            # A close frame follows every phrase sent: the SDK has them all and will replay
            # from the last one. (After a reset it may not have: nothing is remembered.)
            self._resume.acknowledge(self._connection_id, self._ack)
            await self._ws.close(
                code=fault.close_code, message=(fault.close_reason or "injected fault").encode()
            )
            raise StopConnection

    async def _send_text(
        self, path: str, body: dict[str, Any], turn_of: Turn | None = None
    ) -> None:
        """``turn_of``: a turn with language identification sends its translation results
        as ``translation.response`` (:func:`usp_bodies.translation_response`)."""
        if (
            turn_of is not None
            and turn_of.output.identify
            and path in ("translation.phrase", "translation.hypothesis")
        ):
            path, body = "translation.response", usp_bodies.translation_response(body)
        turn = self._turn
        if log.isEnabledFor(logging.DEBUG):
            log.debug("send %s %s", path, body)
        await self._send(usp.build_text(path, turn.request_id if turn else None, body))

    async def _send_binary(self, path: str, payload: bytes) -> None:
        turn = self._turn
        frame = usp.build_binary(
            path, turn.request_id if turn else None, payload, content_type="audio/x-wav"
        )
        await self._send(frame)

    async def _send(self, frame: str | bytes) -> None:
        if self._hung or self._ws.closed:
            return
        if self._delay:
            await asyncio.sleep(self._delay)
        async with self._send_lock:
            if isinstance(frame, str):
                await self._ws.send_str(frame)
            else:
                await self._ws.send_bytes(frame)
