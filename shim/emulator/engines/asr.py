"""Whisper through faster-whisper/CTranslate2: one speech segment in, its text out.

The engine segments speech itself (VAD), so a call decodes exactly one segment (at most one
30 s window) greedily. Encoding the window dominates the cost on a CPU (about 0.6 s for
tiny.en on 2 threads, however short the segment), so when Whisper's speech-to-English
translation is wanted as well, both prompts are run on one encoder output.
"""

from __future__ import annotations

import math
import os
import re
import threading
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from shim.audiotime import SAMPLE_RATE
from shim.emulator.engines.models import ModelSource

WINDOW_FRAMES = 3000  # Whisper's 30 s encoder window, in 10 ms feature frames
TOKENS_PER_SECOND = 15  # generous for any language: bounds a repetition loop
QUICK_TOKENS_PER_SECOND = 8  # partials: tighter, as short windows repeat themselves more
QUICK_PAD_S = 5  # partials: encoder window = the audio + this (at least QUICK_MIN_S)
QUICK_MIN_S = 10
NO_SPEECH_PROB = 0.6  # Whisper's own thresholds for "this window holds no speech"
LOGPROB_FLOOR = -1.0
COMPRESSION_LIMIT = 2.4  # above it the text is a repetition loop

# Azure locale prefixes whose Whisper code differs.
_WHISPER_CODES = {"iw": "he", "nb": "no", "nn": "no", "fil": "tl", "jv": "jw"}


def whisper_language(locale: str) -> str:
    base = locale.replace("_", "-").split("-")[0].lower()
    return _WHISPER_CODES.get(base, base)


@dataclass(frozen=True)
class Transcript:
    text: str
    english: str | None = None  # Whisper's speech->English translation, when asked for


def _compression_ratio(text: str) -> float:
    data = text.encode()
    return len(data) / max(1, len(zlib.compress(data)))


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class WhisperAsr:
    """One loaded model. ``decode`` is blocking: run it in a worker thread."""

    def __init__(self, source: ModelSource, cpu_threads: int = 2) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: we pass a directory
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        self.source = source
        self._model = WhisperModel(
            str(source.path),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        self.multilingual = bool(self._model.model.is_multilingual)
        self.languages: frozenset[str] = (
            frozenset(_LANGUAGE_CODES) if self.multilingual else frozenset({"en"})
        )
        self._tokenizers: dict[tuple[str, str], tuple[Any, list[int]]] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.source.origin

    def _tokenizer(self, language: str, task: str) -> tuple[Any, list[int]]:
        """The tokenizer for a language and task, and the tokens Whisper usually suppresses."""
        from faster_whisper.tokenizer import Tokenizer

        key = (language, task)
        with self._lock:
            cached = self._tokenizers.get(key)
            if cached is None:
                tokenizer = Tokenizer(
                    self._model.hf_tokenizer,
                    self.multilingual,
                    task=task,
                    language=language if self.multilingual else None,
                )
                suppress = sorted(
                    {
                        *tokenizer.non_speech_tokens,
                        tokenizer.transcribe,
                        tokenizer.translate,
                        tokenizer.sot,
                        tokenizer.sot_prev,
                        tokenizer.sot_lm,
                        tokenizer.no_speech,
                    }
                )
                cached = self._tokenizers[key] = (tokenizer, suppress)
            return cached

    def decode(
        self,
        pcm: bytes,
        language: str,
        *,
        translate: bool = False,
        prompt: str | None = None,
        quick: bool = False,
        prefix: str | None = None,
    ) -> Transcript:
        """16 kHz mono 16-bit PCM of one segment (at most 30 s) -> its text.

        ``prompt`` is the text said before (context); ``prefix`` is forced as the start of the
        text (the words partials already settled on), so only the rest is generated.

        ``quick`` encodes a window only a few seconds longer than the audio instead of 30 s:
        several times cheaper, a little less accurate, and prone to repeating itself, which
        the tight token budget then cuts short. Good enough for partials.
        """
        from faster_whisper.audio import pad_or_trim

        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        audio = samples.astype(np.float32) / 32768.0
        seconds = len(audio) / SAMPLE_RATE
        frames = WINDOW_FRAMES
        if quick:
            frames = min(WINDOW_FRAMES, max(QUICK_MIN_S, math.ceil(seconds) + QUICK_PAD_S) * 100)
        features = self._model.feature_extractor(audio)
        encoded = self._model.encode(pad_or_trim(features[:, :frames], frames))
        rate = QUICK_TOKENS_PER_SECOND if quick else TOKENS_PER_SECOND
        transcribe = self._tokenizer(language, "transcribe")
        text = self._generate(encoded, transcribe, seconds * rate, prompt, prefix)
        english = None
        if translate and self.multilingual and language != "en":
            translate_ = self._tokenizer(language, "translate")
            english = self._generate(encoded, translate_, seconds * rate, None, None)
        return Transcript(text, english)

    def _generate(
        self,
        encoded: Any,
        tokenizer_and_suppressed: tuple[Any, list[int]],
        tokens_wanted: float,
        prompt: str | None,
        prefix: str | None,
    ) -> str:
        model = self._model
        tokenizer, suppress = tokenizer_and_suppressed
        tokens: list[int] = []
        if prompt:
            previous = tokenizer.encode(" " + prompt.strip())
            tokens = [tokenizer.sot_prev, *previous[-(model.max_length // 2 - 1) :]]
        tokens += [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        forced = tokenizer.encode(" " + prefix.strip()) if prefix else []
        tokens += forced[: model.max_length // 2]
        budget = max(8, int(tokens_wanted) + 16 - len(forced))
        max_length = min(model.max_length, len(tokens) + budget)
        text = ""
        for repetition_penalty in (1.0, 1.3):
            result = model.model.generate(
                encoded,
                [tokens],
                beam_size=1,
                max_length=max_length,
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=suppress,
                repetition_penalty=repetition_penalty,
            )[0]
            ids = result.sequences_ids[0]
            avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)
            if result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOGPROB_FLOOR:
                return ""
            text = _clean(tokenizer.decode(ids))  # CTranslate2 returns the prefix too
            if _compression_ratio(text) <= COMPRESSION_LIMIT:
                break
        return text
