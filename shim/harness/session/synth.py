"""A spoken sentence made on this machine, so the client demo needs no audio download.

espeak-ng (the Debian program) is used as a separate process: it is GPL, and a subprocess
keeps it out of our import graph. Its 22,050 Hz output is resampled to the documented
16 kHz mono 16-bit input, with a little silence around the speech so VAD-based servers see a
clean start and end.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from shim.harness.session import wavfile

SENTENCES = {
    "en": "Hello, this is a legacy translator speech client. Please turn on the lamp.",
    "de": "Hallo, hier spricht ein alter Übersetzer Client. Bitte schalte die Lampe ein.",
    "es": "Hola, este es un cliente antiguo de traducción. Por favor, enciende la lámpara.",
    "fr": "Bonjour, ceci est un ancien client de traduction. Allume la lampe, s'il te plaît.",
    "it": "Ciao, questo è un vecchio client di traduzione. Per favore, accendi la lampada.",
    "pt": "Olá, este é um cliente antigo de tradução. Por favor, acenda a lâmpada.",
}
_VOICES = {"en": "en-us", "pt": "pt-br", "zh": "cmn"}
_PAD_SECONDS = 0.3


class SynthesisUnavailable(RuntimeError):
    """espeak-ng is not installed or failed."""


def language_of(locale: str) -> str:
    return locale.split("-")[0].split("_")[0].lower()


def default_sentence(locale: str) -> str | None:
    """The demo sentence in the language of ``locale``, if there is one."""
    return SENTENCES.get(language_of(locale))


def synthesize(text: str, locale: str = "en-US", *, timeout: float = 60.0) -> bytes:
    """``text`` spoken by espeak-ng in the voice of ``locale``, as a 16 kHz mono WAV file."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise SynthesisUnavailable(
            "espeak-ng is not installed (Debian: apt-get install espeak-ng); "
            "pass a WAV file instead"
        )
    language = language_of(locale)
    voice = _VOICES.get(language, language)
    with tempfile.TemporaryDirectory(prefix="shim-synth-") as folder:
        path = Path(folder) / "speech.wav"
        for candidate in dict.fromkeys((voice, "en-us")):
            result = subprocess.run(
                [program, "-v", candidate, "-w", str(path), text],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
            if result.returncode == 0 and path.exists() and path.stat().st_size > 44:
                break
        else:
            message = result.stderr.decode(errors="replace").strip()
            raise SynthesisUnavailable(f"espeak-ng failed: {message or result.returncode}")
        pcm = wavfile.pcm16_mono(path.read_bytes())
    pad = bytes(round(_PAD_SECONDS * wavfile.PCM_RATE) * 2)
    return wavfile.make_wav(pad + pcm + pad)
