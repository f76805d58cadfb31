"""Whisper through faster-whisper/CTranslate2: speech segments in, their text out, in batches.

The engine segments speech itself (VAD), so a job decodes exactly one segment greedily. On a
CPU the encoder dominates, and its cost grows faster than the window it reads (tiny.en, one
thread: 0.06 CPU-s for a 10 s window, 0.15 s for 20 s, 0.4 s for 30 s; attention is
quadratic), so a segment is encoded in a window only somewhat longer than its audio, rounded
up to a 5 s bucket: finals get at least 20 s (next to 30 s that changed one word of our
English recordings), partials at least 10 s. Jobs of one window size are encoded together
and decoded together (one CTranslate2 call each for the whole batch), which costs less per
job than one by one; when Whisper's speech-to-English translation is wanted as well, both
prompts run on the same encoder output.

A phrase list (the SDK's ``PhraseListGrammar``) becomes Whisper's prompt ("previous text"),
as faster-whisper's ``hotwords`` does: Whisper then favours those words and their spelling.
The previous final is not given as context: it did not change a word on our recordings, and
CTranslate2 batches prompts only when the start-of-transcript token is at the same position
in all of them.
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
BUCKET_S = 5  # encoder windows are multiples of this: jobs of one size share a batch
FINAL_MIN_S, FINAL_PAD_S = 20, 10  # a final's window: its audio + PAD, at least MIN
QUICK_MIN_S, QUICK_PAD_S = 10, 5  # a partial's
TOKENS_PER_SECOND = 15  # generous for any language: bounds a repetition loop
QUICK_TOKENS_PER_SECOND = 8  # partials: tighter, as short windows repeat themselves more
HOTWORD_TOKENS = 120  # at most this much of a phrase list goes into the prompt
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


@dataclass(frozen=True)
class DecodeJob:
    """One segment to decode. ``prefix`` (partials) is forced as the start of the text, so only
    the rest is generated; ``quick`` (partials) takes a shorter window and token budget."""

    pcm: bytes  # 16 kHz mono 16-bit
    language: str
    translate: bool = False  # also Whisper's speech->English (multilingual model, not en)
    hotwords: str | None = None
    prefix: str | None = None
    quick: bool = False

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / SAMPLE_RATE


def window_frames(seconds: float, quick: bool) -> int:
    """The encoder window for a segment of ``seconds``: padded, bucketed, at most 30 s."""
    minimum, pad = (QUICK_MIN_S, QUICK_PAD_S) if quick else (FINAL_MIN_S, FINAL_PAD_S)
    wanted = max(minimum, seconds + pad)
    return min(WINDOW_FRAMES, math.ceil(wanted / BUCKET_S) * BUCKET_S * 100)


def hotword_prompt(phrases: tuple[str, ...]) -> str | None:
    """A phrase list as prompt text: one sentence per phrase, so Whisper keeps its punctuation."""
    sentences = []
    for phrase in phrases:
        text = " ".join(phrase.split())
        if text:
            sentences.append(text if text[-1] in ".!?" else text + ".")
    return " ".join(sentences) or None


def _compression_ratio(text: str) -> float:
    data = text.encode()
    return len(data) / max(1, len(zlib.compress(data)))


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class _Prompt:
    row: int  # encoder output row (the job's index in the batch)
    job: int
    language: str
    task: str  # "transcribe" or "translate"
    tokens: list[int]
    sot: int  # position of the start-of-transcript token
    budget: int  # tokens it may generate
    forced: int  # tokens of the forced prefix


class WhisperAsr:
    """One loaded model, with ``lanes`` replicas that decode in parallel (one thread each by
    default). ``decode_batch`` is blocking: run it in a worker thread, at most ``lanes`` at a
    time."""

    def __init__(self, source: ModelSource, cpu_threads: int = 1, lanes: int = 2) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: we pass a directory
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        self.source = source
        self.lanes = lanes
        self._model = WhisperModel(
            str(source.path),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=lanes,
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
        hotwords: str | None = None,
        quick: bool = False,
        prefix: str | None = None,
    ) -> Transcript:
        """One segment (at most 30 s) -> its text; blocking."""
        return self.decode_batch([DecodeJob(pcm, language, translate, hotwords, prefix, quick)])[0]

    def decode_batch(self, jobs: list[DecodeJob]) -> list[Transcript]:
        """Segments of one window size (``window_frames``) -> their texts, in one encoder call
        and one decoder call per prompt shape."""
        from faster_whisper.audio import pad_or_trim

        if not jobs:
            return []
        frames = max(window_frames(job.seconds, job.quick) for job in jobs)
        features = []
        for job in jobs:
            samples = np.frombuffer(job.pcm[: len(job.pcm) - len(job.pcm) % 2], dtype="<i2")
            audio = samples.astype(np.float32) / 32768.0
            features.append(pad_or_trim(self._model.feature_extractor(audio)[:, :frames], frames))
        encoded = self._model.encode(np.ascontiguousarray(np.stack(features)))
        prompts = [p for i, job in enumerate(jobs) for p in self._prompts(i, job)]
        texts: dict[tuple[int, str], str] = {}
        for sot in sorted({p.sot for p in prompts}):
            group = [p for p in prompts if p.sot == sot]
            for prompt, text in zip(group, self._generate(encoded, group, 1.0), strict=True):
                if text is not None and _compression_ratio(text) > COMPRESSION_LIMIT:
                    text = self._generate(encoded, [prompt], 1.3)[0]  # a loop: once more
                texts[(prompt.job, prompt.task)] = text or ""
        return [
            Transcript(texts[(i, "transcribe")], texts.get((i, "translate")))
            for i in range(len(jobs))
        ]

    def _prompts(self, index: int, job: DecodeJob) -> list[_Prompt]:
        rate = QUICK_TOKENS_PER_SECOND if job.quick else TOKENS_PER_SECOND
        tasks = ["transcribe"]
        if job.translate and self.multilingual and job.language != "en":
            tasks.append("translate")
        prompts = []
        for task in tasks:
            tokenizer, _ = self._tokenizer(job.language, task)
            tokens: list[int] = []
            if job.hotwords and task == "transcribe":
                hot = tokenizer.encode(" " + job.hotwords.strip())[:HOTWORD_TOKENS]
                tokens = [tokenizer.sot_prev, *hot]
            sot = len(tokens)
            tokens += [*tokenizer.sot_sequence, tokenizer.no_timestamps]
            forced = []
            if job.prefix and task == "transcribe":
                forced = tokenizer.encode(" " + job.prefix.strip())[: self._model.max_length // 2]
            tokens += forced
            budget = max(8, int(job.seconds * rate) + 16 - len(forced))
            prompts.append(
                _Prompt(index, index, job.language, task, tokens, sot, budget, len(forced))
            )
        return prompts

    def _generate(self, encoded: Any, group: list[_Prompt], penalty: float) -> list[str | None]:
        """Texts of one group of prompts (all with the same start position); None: no speech."""
        import ctranslate2

        rows = [p.row for p in group]
        if rows != list(range(encoded.shape[0])):
            encoded = ctranslate2.StorageView.from_array(
                np.ascontiguousarray(np.asarray(encoded)[rows])
            )
        model = self._model
        max_length = min(model.max_length, max(len(p.tokens) + p.budget for p in group))
        suppress = self._tokenizer(group[0].language, group[0].task)[1]  # the same for all
        results = model.model.generate(
            encoded,
            [p.tokens for p in group],
            beam_size=1,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppress,
            repetition_penalty=penalty,
        )
        texts: list[str | None] = []
        for prompt, result in zip(group, results, strict=True):
            ids = result.sequences_ids[0][: prompt.forced + prompt.budget]
            avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)
            if result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOGPROB_FLOOR:
                texts.append(None)
                continue
            tokenizer, _ = self._tokenizer(prompt.language, prompt.task)
            texts.append(_clean(tokenizer.decode(ids)))  # CTranslate2 returns the prefix too
        return texts
