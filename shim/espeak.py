"""espeak-ng, the one wrapper: the harness's demo sentences and the local Speech service's voice.

espeak-ng (the Debian program, GPL) runs as a separate process, which keeps it out of our
import graph; it writes a WAV file (22,050 Hz mono 16-bit) to standard output, with the
streaming sizes (0x7FFFFFFF) a pipe forces, which every WAV reader here accepts. Callers
resample to what they need (the harness with its own WAV reader: it must not share the
server's). A neutral module: it imports nothing from ``shim``.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

PROGRAM = "espeak-ng"
FALLBACK_VOICE = "en-us"
# Where a language's espeak-ng voice is not its primary subtag. "cmn" reads Chinese characters
# as Mandarin and Latin script as English (names and brands in a translation).
_VOICES = {"en": "en-us", "pt": "pt-br", "zh": "cmn"}
_MIN_WAV_BYTES = 45  # a header with no sound is a failure


class EspeakError(RuntimeError):
    """espeak-ng is not installed, has no voice for the language, or failed."""


def program() -> str | None:
    """The espeak-ng executable, or None when it is not installed."""
    return shutil.which(PROGRAM)


def primary_language(tag: str) -> str:
    """``pt-BR`` → ``pt``, ``zh_Hans`` → ``zh``."""
    return tag.replace("_", "-").split("-")[0].lower()


def voice_for(language: str) -> str:
    """The espeak-ng voice for a language tag or locale."""
    primary = primary_language(language)
    return _VOICES.get(primary, primary)


def languages(timeout: float = 30.0) -> set[str]:
    """Primary subtags of the languages the installed voices speak (empty without espeak-ng)."""
    exe = program()
    if exe is None:
        return set()
    try:
        listing = subprocess.run(
            [exe, "--voices"], capture_output=True, text=True, timeout=timeout, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    found = set()
    for line in listing.splitlines()[1:]:  # "Pty Language Age/Gender VoiceName File ..."
        fields = line.split()
        if len(fields) > 1:
            found.add(primary_language(fields[1]))
    return found | ({"zh"} if "cmn" in found else set())


def _candidates(language: str, fallback: bool) -> list[str]:
    voice = voice_for(language)
    return list(dict.fromkeys((voice, FALLBACK_VOICE) if fallback else (voice,)))


def _installed() -> str:
    exe = program()
    if exe is None:
        raise EspeakError(f"{PROGRAM} is not installed (Debian: apt-get install {PROGRAM})")
    return exe


def _failure(returncode: int | None, stderr: bytes) -> EspeakError:
    message = stderr.decode(errors="replace").strip()
    return EspeakError(f"{PROGRAM} failed: {message or returncode}")


def speak(text: str, language: str, *, fallback: bool = False, timeout: float = 60.0) -> bytes:
    """``text`` spoken in the voice of ``language``, as WAV bytes; blocking. ``fallback``
    tries American English when that voice fails. Raises :class:`EspeakError`."""
    exe = _installed()
    failure = EspeakError(f"{PROGRAM}: no voice tried")
    for voice in _candidates(language, fallback):
        try:
            result = subprocess.run(
                [exe, "-v", voice, "--stdout", text],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise EspeakError(f"{PROGRAM} failed: {exc}") from None
        if result.returncode == 0 and len(result.stdout) >= _MIN_WAV_BYTES:
            return result.stdout
        failure = _failure(result.returncode, result.stderr)
    raise failure


async def speak_async(
    text: str, language: str, *, fallback: bool = False, timeout: float = 60.0
) -> bytes:
    """:func:`speak` without blocking the event loop (a subprocess, killed on timeout)."""
    exe = _installed()
    failure = EspeakError(f"{PROGRAM}: no voice tried")
    for voice in _candidates(language, fallback):
        try:
            process = await asyncio.create_subprocess_exec(
                exe,
                "-v",
                voice,
                "--stdout",
                text,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise EspeakError(f"{PROGRAM} failed: {exc}") from None
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            raise EspeakError(f"{PROGRAM} took longer than {timeout:.0f} s") from None
        finally:
            if process.returncode is None:  # timed out or cancelled: no orphan left behind
                process.kill()
        if process.returncode == 0 and len(out) >= _MIN_WAV_BYTES:
            return out
        failure = _failure(process.returncode, err)
    raise failure
