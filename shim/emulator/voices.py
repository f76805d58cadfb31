"""Which translation targets a session wants synthesized, and in which voice (sans-I/O).

The two SDKs ask differently (usp-speech-service.md §5.1):

* the Python SDK (native core) sends ``synthesis.synthesizedLanguages`` (the voice's
  language) and ``synthesis.defaultVoices`` for it;
* the JavaScript SDK sends only ``synthesis.defaultVoices``, mapping *every* target to the
  one voice it was given (``{"de": voice, "es": voice}``), and repeats the voice in the
  query (``features=requireVoice&voice=…``);
* a client on the old translation endpoint may name the voice in the query alone.

Without ``synthesizedLanguages`` the service synthesizes the targets the voice speaks (its
locale's language), and every target when the voice speaks none of them (a multilingual
voice, or a name without a locale), so a voice always yields audio.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_LONG_FORM = re.compile(r"\(\s*([A-Za-z]{2,3})-[A-Za-z0-9]{2,8}\s*,", re.ASCII)
_SHORT_NAME = re.compile(r"^([A-Za-z]{2,3})-[A-Za-z0-9]{2,8}-", re.ASCII)


def voice_language(voice: str) -> str | None:
    """``de-DE-KatjaNeural`` or ``Microsoft Server Speech Text to Speech Voice (de-DE,
    Hedda)`` → ``de``; ``None`` for a multilingual voice or a name without a locale."""
    if "multilingual" in voice.lower():
        return None
    match = _LONG_FORM.search(voice) or _SHORT_NAME.match(voice.strip())
    return match.group(1).lower() if match else None


def _primary(language: str) -> str:
    return language.split("-")[0].lower()


def synthesized_languages(
    synthesis: Any, targets: Iterable[str], query_voice: str | None = None
) -> dict[str, str | None]:
    """Target language → voice (``None``: the service's default voice) to synthesize.

    ``synthesis`` is the ``speech.context`` section (anything: it is client input),
    ``targets`` the session's target languages, ``query_voice`` the ``voice`` query value.
    """
    section = synthesis if isinstance(synthesis, Mapping) else {}
    raw_voices = section.get("defaultVoices")
    voices = {
        str(language): str(voice)
        for language, voice in (raw_voices.items() if isinstance(raw_voices, Mapping) else ())
        if isinstance(voice, str) and voice
    }
    listed = section.get("synthesizedLanguages")
    if isinstance(listed, list) and listed:
        return {str(language): voices.get(str(language)) for language in listed}
    targets = tuple(targets)
    if not voices and query_voice:
        voices = {target: query_voice for target in targets}
    spoken = {
        language: voice
        for language, voice in voices.items()
        if voice_language(voice) == _primary(language)
    }
    chosen: dict[str, str | None] = dict(spoken or voices)
    return chosen
