"""One recognition stream of the local engine: finals, partials and speculative finals.

A :class:`LocalStream` is one turn of one connection over its session's audio
(:mod:`~shim.emulator.engines.local_audio`); what it needs from the engine (translation
plans, the shared batch decoder, the session table, early synthesis) is the
:class:`StreamEngine` protocol, so this module does not import the engine and the engine
imports it.

* Partials: every ``partial_step`` of new audio the stream asks the decoder for one; the
  decoder reads the segment's audio when its batch forms (:mod:`local_decoder`), with the
  words two successive partials agreed on forced as the start.
* Speculative finals: ``PAUSE`` into a pause the audio the final would decode is all there,
  so its decode starts at once with a final's priority, and its translations and synthesis
  follow as soon as its text is known. If the pause is the end of the segment, the final
  (due at the segmentation silence) joins it instead of starting from scratch.
* Translations of finals and partials: :mod:`~shim.emulator.engines.local_translations`.
* Every final with text is preceded by at least one hypothesis, as the service does; when
  the audio came faster than partials could be decoded, that hypothesis is the final's text.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from shim.audiotime import BYTES_PER_SECOND, bytes_to_ticks, ticks_to_bytes
from shim.emulator.engines.asr import (
    DecodeJob,
    Transcript,
    WhisperAsr,
    hotword_prompt,
    whisper_language,
    window_frames,
)
from shim.emulator.engines.base import (
    Hypothesis,
    Phrase,
    Quiet,
    RecognitionEvent,
    SpeechStarted,
    StreamParams,
)
from shim.emulator.engines.local_audio import (
    POST_ROLL,
    DecodeKey,
    SessionAudio,
    SpeechSegment,
)
from shim.emulator.engines.local_decoder import BatchDecoder
from shim.emulator.engines.local_translations import StreamTranslations, TranslationEngine

log = logging.getLogger("shim.emulator.local")

PAUSE = POST_ROLL  # after this much pause the final's audio is all there: speculate
MIN_PARTIAL = BYTES_PER_SECOND // 2  # no partial before this much of the segment
PARTIAL_DUTY = 0.25  # a stream's partials may keep a lane busy this share of the time: a
# partial re-decodes its whole segment, so long segments get partials less often
_TRAILING = ".,;:!?…-。、？！ "


class StreamEngine(TranslationEngine, Protocol):
    """What a stream needs from its engine (:class:`~shim.emulator.engines.local.LocalEngine`)."""

    partial_step: int  # bytes of new audio between partial decodes; 0: no partials
    decoder: BatchDecoder  # every session's Whisper decodes, batched
    stats: dict[str, float]

    def session(self, params: StreamParams) -> SessionAudio:
        """The audio and decodes of the stream's session (kept across its connections)."""
        ...


class PrefixStabilizer:
    """Partials' words: once two successive decodes agree on a prefix, every later partial of
    the segment starts with it (local agreement), so what a client shows only grows."""

    def __init__(self) -> None:
        self.stable: list[str] = []
        self._previous: list[str] = []

    def update(self, words: list[str]) -> list[str]:
        """The words to show for a new decode of the growing segment."""
        stable = self.stable
        shown = stable + words[len(stable) :]
        if [_norm(w) for w in words[: len(stable)]] == [_norm(w) for w in stable]:
            # The last word is left out: the decode may have cut it off mid-way.
            k, limit = len(stable), min(len(self._previous), len(words)) - 1
            while k < limit and _norm(self._previous[k]) == _norm(words[k]):
                k += 1
            self.stable = stable + words[len(stable) : k]
        self._previous = words
        return shown


@dataclass(frozen=True)
class PartialResult:
    start: int
    end: int
    transcript: Transcript
    translations: dict[str, str]
    speculative: bool


@dataclass
class _Window:
    """The audio a partial's decode covered (set when its batch formed)."""

    end: int = 0


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _stripped(text: str) -> str:
    return text.rstrip(_TRAILING)


class LocalStream:
    def __init__(self, engine: StreamEngine, params: StreamParams, asr: WhisperAsr) -> None:
        self._engine = engine
        self._asr = asr
        self._language = whisper_language(params.language)
        self._locale = params.language
        self._hotwords = hotword_prompt(params.phrases)
        self._session = engine.session(params)
        self._turn_start = ticks_to_bytes(params.start_ticks)
        self._position = self._turn_start
        self._mt = StreamTranslations(engine, params.language, params.targets, params.synthesized)
        self._done: set[int] = set()
        self._quiet_from = self._turn_start  # end of the last phrase
        self._pending_start: int | None = None  # a finished segment still waiting for audio
        # Segments a hypothesis was sent for (start → the last one's end): each gets a phrase.
        self._hypothesized: dict[int, int] = {}
        self._speech_started = False
        self._ended = False
        self._partial: asyncio.Task[PartialResult | None] | None = None
        self._speculative: asyncio.Task[PartialResult | None] | None = None
        self._partial_segment: int | None = None
        self._partial_end = 0
        self._speculated = 0  # the speech end a speculative decode was started for
        self._stabilizer = PrefixStabilizer()
        self._last_text = ""

    def set_targets(self, targets: tuple[str, ...]) -> None:
        self._mt.set_targets(targets)

    async def feed(self, pcm: bytes) -> list[RecognitionEvent]:
        session = self._session
        async with session.lock:
            end = self._position + len(pcm)
            if end > session.analysed:
                gap = max(0, self._position - session.analysed)
                session.append(bytes(gap) + pcm[max(0, session.analysed - self._position) :])
            self._position = end
            return await self._events(live=end >= session.analysed)

    async def finish(self) -> list[RecognitionEvent]:
        session = self._session
        async with session.lock:
            self._ended = True
            if self._position >= session.analysed:
                session.segments += [SpeechSegment(s.start, s.end) for s in session.vad.flush()]
            # A running speculative decode of the final's audio is joined, not repeated.
            events = await self._events(live=False)
        for task in (self._partial, self._speculative):
            if task is not None:
                task.cancel()  # its decode, if a final's, stays shared in the session
        return events

    async def _events(self, live: bool) -> list[RecognitionEvent]:
        events: list[RecognitionEvent] = []
        session = self._session
        kept = {segment.start for segment in session.segments}
        open_start = session.vad.open_segment_start
        for start in sorted(set(self._hypothesized) - kept - {open_start}):
            # The VAD dropped the speech a hypothesis was sent for (too short in the end): the
            # service still ends every hypothesis with a phrase, one without words.
            end = self._hypothesized.pop(start)
            events.append(
                Phrase(bytes_to_ticks(start), bytes_to_ticks(end - start), "", {}, "NoMatch")
            )
        pending = False
        pending_start: int | None = None  # a finished segment still waiting for more audio
        for segment in list(session.segments):
            if segment.start in self._done:
                continue
            if segment.end <= self._turn_start:
                self._done.add(segment.start)  # acknowledged on an earlier connection
                self._hypothesized.pop(segment.start, None)
                continue
            if segment.end > self._position:
                pending, pending_start = True, segment.start
                break
            self._speech(events, segment.start)
            events += await self._phrase(segment)
            self._done.add(segment.start)
            self._quiet_from = max(self._quiet_from, segment.end)
        self._done &= kept  # bounded like the session's segments
        live = live and not pending and not self._ended
        if live and open_start is not None and open_start < self._position:
            self._speech(events, open_start)
            self._partials(events, open_start)
        self._pending_start = pending_start
        session.trim()
        return events

    def quiet(self) -> Quiet:
        quiet_until = self._position
        for start in (self._pending_start, self._session.vad.open_segment_start):
            if start is not None:
                quiet_until = min(quiet_until, max(start, self._quiet_from))
        return Quiet(bytes_to_ticks(self._quiet_from), bytes_to_ticks(quiet_until))

    def _speech(self, events: list[RecognitionEvent], start: int) -> None:
        if not self._speech_started:
            self._speech_started = True
            events.append(SpeechStarted(bytes_to_ticks(max(start, self._turn_start))))

    # ---- finals -----------------------------------------------------------------------
    def _key(self, start: int, end: int) -> tuple[DecodeKey, DecodeJob]:
        """The final's decode of speech from ``start`` to ``end`` (its window around it)."""
        session = self._session
        first, last = session.window(start, end)
        key = DecodeKey(first, last, self._language, self._mt.by_whisper, self._hotwords)
        job = DecodeJob(
            session.pcm(first, last), self._language, self._mt.by_whisper, self._hotwords
        )
        return key, job

    async def _phrase(self, segment: SpeechSegment) -> list[RecognitionEvent]:
        """The segment's final, after a hypothesis if none was sent for it."""
        offset = bytes_to_ticks(segment.start)
        duration = bytes_to_ticks(segment.end - segment.start)
        started = time.monotonic()
        how = "cached"
        if segment.transcript is None:
            key, job = self._key(segment.start, segment.end)
            how = "joined" if key in self._session.running else "new"
            how = "ready" if key in self._session.decodes else how
            segment.transcript = await self._final(key, job)
        transcript = segment.transcript
        decoded = time.monotonic()
        hypothesized = self._hypothesized.pop(segment.start, None) is not None
        self._reset_partials()
        if not transcript.text:
            return [Phrase(offset, duration, "", {}, "NoMatch")]
        translations = await self._mt.translate(transcript)
        self._mt.presynthesize(translations)
        log.debug(
            "final %.2f-%.2f s: decode %s, waited %.0f ms; translations %.0f ms",
            segment.start / BYTES_PER_SECOND,
            segment.end / BYTES_PER_SECOND,
            how,
            1000 * (decoded - started),
            1000 * (time.monotonic() - decoded),
        )
        events: list[RecognitionEvent] = []
        if not hypothesized and (text := _stripped(transcript.text)):
            shown = {t: _stripped(v) for t, v in translations.items()}
            events.append(Hypothesis(offset, duration, text, shown))
        events.append(Phrase(offset, duration, transcript.text, translations))
        return events

    async def _final(self, key: DecodeKey, job: DecodeJob, speculative: bool = False) -> Transcript:
        """Decode once per key: a final joins a speculative decode of the same audio (which
        then waits no longer than a final), or reuses its result."""
        session = self._session
        done = session.decodes.get(key)
        running = session.running.get(key)
        if done is not None:
            self._engine.stats["reused_decodes"] += 1
            return done
        if running is None:
            decode = self._engine.decoder.final(self._asr, job, speculative)
            running = asyncio.ensure_future(decode)
            session.running[key] = running
            session.jobs[key] = job
            running.add_done_callback(functools.partial(session.settle, key))
        elif not speculative:
            self._engine.stats["reused_decodes"] += 1
            self._engine.decoder.hasten(session.jobs.get(key, job))
        return await asyncio.shield(running)

    # ---- partials ---------------------------------------------------------------------
    def _reset_partials(self) -> None:
        self._partial_segment = None
        self._stabilizer, self._last_text = PrefixStabilizer(), ""

    def _partials(self, events: list[RecognitionEvent], open_start: int) -> None:
        if self._partial_segment != open_start:
            self._reset_partials()
            self._partial_segment = open_start
            self._partial_end = open_start
            self._speculated = 0
        for task in (self._partial, self._speculative):
            if task is not None and task.done():
                self._take(task, open_start, events)
        session = self._session
        voiced = session.vad.last_voiced_end
        pause = session.analysed - voiced
        if pause >= PAUSE and voiced != self._speculated and self._speculative is None:
            # Exactly the final's decode, should the segment end here: it queues like one.
            self._speculated = voiced
            self._speculative = asyncio.create_task(self._speculate(open_start, voiced))
        elif (
            self._engine.partial_step > 0
            and self._partial is None
            and session.analysed - open_start >= MIN_PARTIAL
            and pause < PAUSE // 2  # in a pause the speculative decode is what counts
            and session.analysed - self._partial_end >= self._partial_step(open_start)
        ):
            self._partial_end = session.analysed
            self._partial = asyncio.create_task(self._partial_job(open_start))

    def _partial_step(self, open_start: int) -> int:
        """Audio between partials: the engine's step, or more when a partial of a segment this
        long costs more than PARTIAL_DUTY of that audio's time."""
        seconds = (self._session.analysed - open_start) / BYTES_PER_SECOND
        cost = self._engine.decoder.cost(self._asr, window_frames(seconds, quick=True))
        paced = 0 if cost is None else int(cost / PARTIAL_DUTY * BYTES_PER_SECOND)
        return max(self._engine.partial_step, paced)

    def _take(
        self, task: asyncio.Task[PartialResult | None], open_start: int, events: list[Any]
    ) -> None:
        if task is self._partial:
            self._partial = None
        else:
            self._speculative = None
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            log.warning("partial decode failed: %s", failure)
        result = None if task.cancelled() or failure else task.result()
        if result is not None and result.start == open_start:
            hypothesis = self._hypothesis(result)
            if hypothesis is not None:
                events.append(hypothesis)

    async def _speculate(self, open_start: int, voiced_end: int) -> PartialResult | None:
        """The final's decode, its translations and synthesis, before the segment has ended."""
        key, job = self._key(open_start, voiced_end)
        transcript = await self._final(key, job, speculative=True)
        translations = await self._mt.translate(transcript)
        self._mt.presynthesize(translations)
        return PartialResult(open_start, key.end, transcript, translations, True)

    async def _partial_job(self, open_start: int) -> PartialResult | None:
        session = self._session
        window = _Window()

        def job() -> DecodeJob | None:
            """The segment so far, read when the decoder's batch forms."""
            if self._ended or session.vad.open_segment_start != open_start:
                return None
            first, window.end = session.window(open_start, session.analysed)
            prefix = " ".join(self._stabilizer.stable) or None
            pcm = session.pcm(first, window.end)
            return DecodeJob(pcm, self._language, self._mt.by_whisper, self._hotwords, prefix, True)

        transcript = await self._engine.decoder.partial(self._asr, job)
        if transcript is None:
            return None
        self._engine.stats["partial_decodes"] += 1
        translations = await self._mt.translate(transcript, partial=True)
        return PartialResult(open_start, window.end, transcript, translations, False)

    def _hypothesis(self, result: PartialResult) -> Hypothesis | None:
        words = result.transcript.text.split()
        if not words:
            return None
        shown = self._stabilizer.update(words)
        text = _stripped(" ".join(shown))
        if not text or text == self._last_text:
            return None
        self._last_text = text
        translations = {t: _stripped(v) for t, v in result.translations.items()}
        for target in self._mt.identity:
            translations[target] = text
        start = result.start
        self._hypothesized[start] = min(result.end, self._position)
        return Hypothesis(
            bytes_to_ticks(start),
            bytes_to_ticks(min(result.end, self._position) - start),
            text,
            translations,
        )
