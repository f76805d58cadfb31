"""What a session asks for that the service does not have, and how Azure answers it (sans-I/O).

Learned from the JavaScript SDK's own tests and from the service's messages quoted in
public reports:

* an unknown recognition language closes the connection with 1007 (sdk-js
  ``TranslationRecognizerTests.ts`` / ``SpeechRecognizerTests.ts`` "RecognizeOnce Bad
  Language" expect a ``BadRequestParameters`` cancellation naming 1007); the reason is the
  one the service gave for it, "Unsupported locale: ja_JP." (CatalystCode/
  SpeechToText-WebSockets-Java#2);
* an unknown target language does not end anything: the phrase is recognised, and its
  translation fails (sdk-js "Translate Bad Language": ``RecognizedSpeech`` with error
  details); the reason is Translator's for the same request ("The target language is not
  valid.");
* an unknown voice fails each synthesis (sdk-js "TranslateVoiceInvalidVoice": an error
  cancellation; its older version quoted the service's "Translation request failed with
  status code: BadRequest Reason: Unsupported voice name …");
* a speech synthesis in an unknown voice is refused (sdk-js ``SpeechSynthesisTests.ts``
  "synthesis with invalid voice name" expects a ``BadRequestParameters`` cancellation whose
  details name the voice: a 1007 close); the wording is ours.

The scripted engine is checked against the bundled catalog (:mod:`shim.catalog`); the local
engine the same way first, then against what it serves (:meth:`Engine.supports`).
"""

from __future__ import annotations

from collections.abc import Iterable

from shim.catalog.catalog import Catalog


def _catalog() -> Catalog:
    return Catalog.bundled()


def locale_refusal(locale: str) -> str | None:
    """The 1007 close reason for an unknown recognition language, or None if it is known."""
    if _catalog().is_speech_locale(locale):
        return None
    return f"Unsupported locale: {locale}."


def unknown_targets(targets: Iterable[str]) -> tuple[str, ...]:
    """The targets Translator does not know (a text code or a locale of one is known)."""
    catalog = _catalog()
    return tuple(t for t in targets if catalog.text_code(t) is None)


def translation_failure(unknown: tuple[str, ...]) -> str | None:
    """The ``FailureReason`` of a phrase's translation when targets are unknown."""
    if not unknown:
        return None
    return f"The target language is not valid: {', '.join(unknown)}."


def voice_failure(voice: str | None) -> str | None:
    """The ``FailureReason`` of a synthesis in ``voice``, or None (a known or default voice)."""
    if voice is None or _catalog().find_voice(voice) is not None:
        return None
    return (
        "Translation request failed with status code: BadRequest"
        f" Reason: Unsupported voice name {voice}."
    )


def synthesis_voice_refusal(voice: str | None, served: frozenset[str] = frozenset()) -> str | None:
    """The 1007 close reason for speech synthesis in an unknown voice, or None (a voice of
    the catalog, one of ``served`` (a ``--voices`` list's names), or the default voice)."""
    if voice is None or voice.strip() in served or _catalog().find_voice(voice) is not None:
        return None
    return f"Unsupported voice name: {voice}."
