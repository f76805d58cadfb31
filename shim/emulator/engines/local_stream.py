"""One recognition stream of the local engine: finals, partials and speculative finals.

A :class:`LocalStream` is one turn of one connection over its session's audio
(:mod:`~shim.emulator.engines.local_session`); what it needs from the engine (translation
plans, the shared decoder, the session table) is the :class:`StreamEngine` protocol, so this
module does not import the engine and the engine imports it.
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
from shim.emulator.engines.asr import Transcript, WhisperAsr, whisper_language
from shim.emulator.engines.base import (
    Hypothesis,
    Phrase,
    Quiet,
    RecognitionEvent,
    SpeechStarted,
    StreamParams,
)
from shim.emulator.engines.local_session import (
    POST_ROLL,
    DecodeGate,
    DecodeKey,
    Plan,
    SessionAudio,
    SpeechSegment,
)
from shim.emulator.engines.mt import TextTranslator

log = logging.getLogger("shim.emulator.local")

PAUSE = POST_ROLL  # after this much pause the final's audio is all there: speculate
MIN_PARTIAL = BYTES_PER_SECOND // 2  # no partial before this much of the segment
PARTIAL_MT_INTERVAL = 1.5  # s: Apertium (a process per call) translates partials this often
_TRAILING = ".,;:!?…-。、？！ "


class StreamEngine(Protocol):
    """What a stream needs from its engine (:class:`~shim.emulator.engines.local.LocalEngine`)."""

    partial_step: int  # bytes of new audio between partial decodes; 0: no partials
    gate: DecodeGate  # one Whisper decode at a time, engine-wide
    mt: TextTranslator
    stats: dict[str, float]

    def plan(self, source_locale: str, target: str) -> tuple[Plan | None, str]:
        """How ``target`` is produced from the source's speech, or None and why not."""
        ...

    def session(self, params: StreamParams) -> SessionAudio:
        """The audio and decodes of the stream's session (kept across its connections)."""
        ...

    def touch(self, stream: object) -> None:
        """The stream received audio now (it counts as live)."""
        ...

    def live_streams(self) -> int:
        """Streams that received audio lately: partials share the CPU among them."""
        ...

    async def decode(
        self, asr: WhisperAsr, key: DecodeKey, pcm: bytes, *, wait: bool
    ) -> Transcript | None:
        """A Whisper decode; with ``wait=False`` only if the gate is idle (else None)."""
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
    cost: float  # seconds the decode took
    quick: bool


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
        self._session = engine.session(params)
        self._turn_start = ticks_to_bytes(params.start_ticks)
        self._position = self._turn_start
        self._plans: dict[str, Plan] = {}
        self.set_targets(params.targets)
        self._done: set[int] = set()
        self._quiet_from = self._turn_start  # end of the last phrase
        self._pending_start: int | None = None  # a finished segment still waiting for audio
        self._speech_started = False
        self._ended = False
        self._partial: asyncio.Task[PartialResult | None] | None = None
        self._speculative: asyncio.Task[PartialResult | None] | None = None
        self._partial_segment: int | None = None
        self._partial_end = 0
        self._speculated = 0  # the speech end a speculative decode was started for
        self._stabilizer = PrefixStabilizer()
        self._last_text = ""
        self._next_partial_at = 0.0
        self._mt_at = 0.0
        self._mt_last: dict[str, str] = {}

    def set_targets(self, targets: tuple[str, ...]) -> None:
        plans = {}
        for target in targets:
            plan, reason = self._engine.plan(self._locale, target)
            if plan is None:
                log.warning("%s -> %s not served: %s", self._locale, target, reason)
            else:
                plans[target] = plan
        self._plans = plans

    @property
    def _translate(self) -> bool:
        return any(plan.kind == "whisper" for plan in self._plans.values())

    async def feed(self, pcm: bytes) -> list[RecognitionEvent]:
        session = self._session
        self._engine.touch(self)
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
            # A running partial decode of the final's audio is joined, not repeated.
            return await self._events(live=False)

    async def _events(self, live: bool) -> list[RecognitionEvent]:
        events: list[RecognitionEvent] = []
        session = self._session
        pending = False
        pending_start: int | None = None  # a finished segment still waiting for more audio
        for segment in list(session.segments):
            if segment.start in self._done:
                continue
            if segment.end <= self._turn_start:
                self._done.add(segment.start)  # acknowledged on an earlier connection
                continue
            if segment.end > self._position:
                pending, pending_start = True, segment.start
                break
            self._speech(events, segment.start)
            events.append(await self._phrase(segment))
            self._done.add(segment.start)
            self._quiet_from = max(self._quiet_from, segment.end)
        open_start = session.vad.open_segment_start
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
    async def _phrase(self, segment: SpeechSegment) -> Phrase:
        session = self._session
        offset = bytes_to_ticks(segment.start)
        duration = bytes_to_ticks(segment.end - segment.start)
        if segment.transcript is None:
            start, end = session.window(segment.start, segment.end)
            key = DecodeKey(
                start, end, self._language, self._translate, session.prompt_before(segment.start)
            )
            transcript = await self._decode(key, session.pcm(start, end), wait=True)
            assert transcript is not None
            segment.transcript = transcript
        transcript = segment.transcript
        self._reset_partials()
        if not transcript.text:
            return Phrase(offset, duration, "", {}, "NoMatch")
        translations = await self._translations(transcript)
        return Phrase(offset, duration, transcript.text, translations)

    async def _decode(self, key: DecodeKey, pcm: bytes, *, wait: bool) -> Transcript | None:
        """Decode once per key: a final joins a speculative decode of the same audio, or reuses
        its result. ``wait=False``: only if the gate is idle (else None)."""
        session = self._session
        done = session.decodes.get(key)
        running = session.running.get(key)
        if not key.quick and wait and (done is not None or running is not None):
            self._engine.stats["reused_decodes"] += 1
        if done is not None:
            return done
        if running is None:
            running = asyncio.ensure_future(self._engine.decode(self._asr, key, pcm, wait=wait))
            session.running[key] = running
            running.add_done_callback(functools.partial(session.settle, key))
        result = await asyncio.shield(running)
        if result is None and wait:  # joined a decode that found the gate busy
            if session.running.get(key) is running:
                del session.running[key]
            return await self._decode(key, pcm, wait=True)
        return result

    async def _translations(self, transcript: Transcript, partial: bool = False) -> dict[str, str]:
        results: dict[str, str] = {}
        jobs = {}
        now = time.monotonic()
        fresh = not partial or now - self._mt_at >= PARTIAL_MT_INTERVAL
        for target, plan in self._plans.items():
            if plan.kind == "identity":
                results[target] = transcript.text
            elif plan.kind == "whisper":
                results[target] = transcript.english or ""
            elif plan.route is not None:
                if not fresh and any(step.engine == "apertium" for step in plan.route.steps):
                    results[target] = self._mt_last.get(target, "")  # lags a little
                else:
                    jobs[target] = self._engine.mt.translate(transcript.text, plan.route)
        if partial and fresh and jobs:
            self._mt_at = now
        done = await asyncio.gather(*jobs.values(), return_exceptions=True)
        for target, result in zip(jobs, done, strict=True):
            if isinstance(result, BaseException):
                log.warning("translation to %s failed: %r", target, result)
                results[target] = ""
            else:
                results[target] = result
        if partial:
            self._mt_last.update({t: results[t] for t in jobs})
        return results

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
        if self._engine.partial_step <= 0:
            return
        session = self._session
        voiced = session.vad.last_voiced_end
        pause = session.analysed - voiced
        if session.analysed - open_start < MIN_PARTIAL:
            return
        if pause >= PAUSE and voiced != self._speculated and self._speculative is None:
            # Exactly the final's decode, should the segment end here: it queues like one.
            self._speculated = voiced
            self._speculative = self._spawn(open_start, voiced, quick=False)
        elif (
            self._partial is None
            and pause < PAUSE // 2  # in a pause the speculative decode is what counts
            and session.analysed - self._partial_end >= self._engine.partial_step
            and time.monotonic() >= self._next_partial_at
            and self._engine.gate.idle
        ):
            self._partial_end = session.analysed
            self._partial = self._spawn(open_start, session.analysed, quick=True)

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
        if result is None:  # the gate was busy: try again
            self._partial_end = open_start
        elif result.start == open_start:
            if result.quick:
                # Partials of all live streams together take at most half the time.
                live = self._engine.live_streams()
                self._next_partial_at = time.monotonic() + result.cost * (2 * live - 1)
            hypothesis = self._hypothesis(result)
            if hypothesis is not None:
                events.append(hypothesis)

    def _spawn(
        self, open_start: int, end: int, *, quick: bool
    ) -> asyncio.Task[PartialResult | None]:
        session = self._session
        start, window_end = session.window(open_start, end)
        prompt = session.prompt_before(open_start)
        prefix = " ".join(self._stabilizer.stable) or None if quick else None
        key = DecodeKey(start, window_end, self._language, self._translate, prompt, quick, prefix)
        pcm = session.pcm(start, window_end)
        return asyncio.create_task(self._partial_job(open_start, window_end, key, pcm))

    async def _partial_job(
        self, segment_start: int, end: int, key: DecodeKey, pcm: bytes
    ) -> PartialResult | None:
        started = time.monotonic()
        transcript = await self._decode(key, pcm, wait=not key.quick)
        cost = time.monotonic() - started
        if transcript is None:
            return None
        translations = await self._translations(transcript, partial=key.quick)
        return PartialResult(segment_start, end, transcript, translations, cost, key.quick)

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
        for target, plan in self._plans.items():
            if plan.kind == "identity":
                translations[target] = text
        start = result.start
        return Hypothesis(
            bytes_to_ticks(start),
            bytes_to_ticks(min(result.end, self._position) - start),
            text,
            translations,
        )
