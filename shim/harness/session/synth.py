"""A spoken sentence made on this machine, so the client demo needs no audio download.

espeak-ng speaks it (:mod:`shim.espeak`, the one wrapper); its 22,050 Hz output is resampled
to the documented 16 kHz mono 16-bit input, with a little silence around the speech so
VAD-based servers see a clean start and end.
"""

from __future__ import annotations

from shim import espeak
from shim.harness.session import wavfile

SENTENCES = {
    "en": "Hello, this is a legacy translator speech client. Please turn on the lamp.",
    "de": "Hallo, hier spricht ein alter Übersetzer Client. Bitte schalte die Lampe ein.",
    "es": "Hola, este es un cliente antiguo de traducción. Por favor, enciende la lámpara.",
    "fr": "Bonjour, ceci est un ancien client de traduction. Allume la lampe, s'il te plaît.",
    "it": "Ciao, questo è un vecchio client di traduzione. Per favore, accendi la lampada.",
    "pt": "Olá, este é um cliente antigo de tradução. Por favor, acenda a lâmpada.",
}
_PAD_SECONDS = 0.3


class SynthesisUnavailable(RuntimeError):
    """espeak-ng is not installed or failed."""


def default_sentence(locale: str) -> str | None:
    """The demo sentence in the language of ``locale``, if there is one."""
    return SENTENCES.get(espeak.primary_language(locale))


def synthesize(text: str, locale: str = "en-US", *, timeout: float = 60.0) -> bytes:
    """``text`` spoken by espeak-ng in the voice of ``locale`` (American English when it has
    none), as a 16 kHz mono WAV file."""
    try:
        wav = espeak.speak(text, locale, fallback=True, timeout=timeout)
    except espeak.EspeakError as exc:
        hint = "; pass a WAV file instead" if espeak.program() is None else ""
        raise SynthesisUnavailable(f"{exc}{hint}") from None
    pcm = wavfile.pcm16_mono(wav)
    pad = bytes(round(_PAD_SECONDS * wavfile.PCM_RATE) * 2)
    return wavfile.make_wav(pad + pcm + pad)
