"""A recognition turn of the local Speech service: what its ``speech.context`` asks for
(:class:`TurnRequest`, read by :func:`read_turn_request` without I/O) and what the
connection keeps of it while it runs (:class:`Turn`).

The SDKs put everything a turn asks for in ``speech.context`` (usp-speech-service.md §6);
some of it may also come in the connection's query (the JavaScript SDK's ``format``,
``profanity``, ``initialSilenceTimeoutMs``, ...), the context winning.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from shim.emulator import phrase_list, usp_bodies, validation, voices
from shim.emulator.engines.base import BadInput, Engine, Hypothesis, Phrase, RecognitionStream
from shim.emulator.profanity import RAW, marked_words
from shim.emulator.profanity import apply as apply_profanity
from shim.emulator.silence import SilenceTimeouts, TurnSilence
from shim.pcmformat import PCM_16K_MONO, PcmConverter

_Text = TypeVar("_Text", Hypothesis, Phrase)


class Kind(enum.Enum):
    TRANSLATION = "translation"
    SPEECH = "speech"


@dataclass(frozen=True)
class TurnRequest:
    """What one ``speech.context`` asks of its turn."""

    language: str  # the locale recognised (with language identification: the first candidate)
    identify: bool  # language identification asked for
    identify_at_start: bool  # ... at the start only (not DetectContinuous)
    interactive: bool  # once mode (else continuous)
    segmentation_silence_ms: int | None
    targets: tuple[str, ...]  # the known targets; unknown ones make every translation fail
    translation_failure: str | None
    synthesized: dict[str, str | None]  # language -> voice
    continuation: int | None  # where the Python SDK says its audio resumes (absolute ticks)
    kind: Kind  # what the turn asked for (the universal endpoint serves both)
    profanity: str
    silence: TurnSilence
    output: usp_bodies.Output
    phrases: tuple[str, ...]  # the client's phrase list


def dig(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def checked_targets(requested: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """The targets the engines see (unknown ones dropped), and why translation fails if any
    target is unknown (Translator refuses the whole request)."""
    unknown = validation.unknown_targets(requested)
    known = tuple(t for t in requested if t not in unknown)
    return known, validation.translation_failure(unknown)


def read_turn_request(
    context: dict[str, Any],
    query: Mapping[str, str],
    *,
    kind: Kind,
    default_language: str | None,
    default_interactive: bool,
    silence: SilenceTimeouts,
) -> TurnRequest:
    """The turn a ``speech.context`` asks for; :class:`BadInput` for a locale the service
    refuses (Azure closes 1007)."""
    # With language identification the SDKs name the candidates instead of a language;
    # the engines recognise the first (the scripted one reports what a scenario says).
    candidates = tuple(str(c) for c in dig(context, "languageId", "languages") or ())
    language = str(
        dig(context, "phraseDetection", "language")
        or (candidates[0] if candidates else None)
        or default_language
        or "en-US"
    )
    for locale in candidates or (language,):
        refusal = validation.locale_refusal(locale)
        if refusal is not None:
            raise BadInput(refusal)
    mode = str(dig(context, "phraseDetection", "mode") or "").upper()
    interactive = mode == "INTERACTIVE" if mode else default_interactive
    segmentation = None
    for section in ("CONVERSATION", "INTERACTIVE", "DICTATION"):
        value = dig(
            context, "phraseDetection", section, "segmentation", "segmentationSilenceTimeoutMs"
        )
        if value:
            segmentation = int(value)
    targets, translation_failure = checked_targets(
        tuple(str(t) for t in dig(context, "translation", "targetLanguages") or ())
    )
    offset = dig(context, "continuation", "audio", "streams", "1", "offset")
    # The universal v2 endpoint serves recognition too (the JavaScript SDK's
    # SpeechRecognizer uses it): a turn without a translation section gets speech.*.
    if kind is Kind.TRANSLATION and dig(context, "translation") is None:
        kind = Kind.SPEECH
    options = dig(context, "phraseOutput", "detailed", "options") or ()
    words = "WordTimings" in options or query.get("wordLevelTimestamps") == "true"
    output_format = str(dig(context, "phraseOutput", "format") or query.get("format") or "")
    return TurnRequest(
        language=language,
        identify=bool(candidates),
        identify_at_start=dig(context, "languageId", "mode") != "DetectContinuous",
        interactive=interactive,
        segmentation_silence_ms=segmentation,
        targets=targets,
        translation_failure=translation_failure,
        synthesized=voices.synthesized_languages(
            dig(context, "synthesis"), targets, query.get("voice")
        ),
        continuation=int(offset) if offset is not None else None,
        kind=kind,
        profanity=str(
            dig(context, "phraseDetection", "enrichment", "profanity")
            or query.get("profanity")
            or "masked"
        ),
        silence=silence.for_turn(
            interactive,
            _positive_int(
                dig(context, "phraseDetection", "initialSilenceTimeout")
                or query.get("initialSilenceTimeoutMs")
            ),
            _positive_int(
                dig(context, "phraseDetection", "trailingSilenceTimeout")
                or query.get("endSilenceTimeoutMs")
            ),
        ),
        output=usp_bodies.Output(
            detailed=words or output_format.lower() == "detailed",
            words=words,
            identify=bool(candidates),
        ),
        phrases=phrase_list.phrases(context),
    )


@dataclass
class Turn:
    request_id: str
    stream: RecognitionStream
    base: int  # absolute ticks of the turn's first PCM byte
    interactive: bool
    targets: tuple[str, ...]
    synthesized: dict[str, str | None]  # language -> voice
    output: usp_bodies.Output
    kind: Kind  # what the turn asked for (the universal endpoint serves both)
    profanity: str
    language: str
    silence: TurnSilence
    speech_detected: bool = False
    audio_frames: int = 0
    audio_bytes: int = 0  # of 16 kHz mono 16-bit PCM, whatever the client sends
    received_bytes: int = 0  # as the client sends them, in its format
    converter: PcmConverter = dataclasses.field(default_factory=lambda: PcmConverter(PCM_16K_MONO))
    phrases: int = 0
    translation_failure: str | None = None  # an unknown target: every translation fails
    identify_at_start: bool = False  # language identification at the start only
    identified: str | None = None  # ... and what it found
    end_detected: bool = False  # the service ended the turn (speech.endDetected sent)
    ended: bool = False

    @classmethod
    def of(
        cls, request_id: str, request: TurnRequest, stream: RecognitionStream, base: int
    ) -> Turn:
        return cls(
            request_id,
            stream,
            base,
            request.interactive,
            request.targets,
            request.synthesized,
            request.output,
            request.kind,
            request.profanity,
            request.language,
            request.silence,
            translation_failure=request.translation_failure,
            identify_at_start=request.identify_at_start,
        )


def identified(turn: Turn, event: _Text) -> _Text:
    """The event with the language identification's answer: what the engine heard, else the
    turn's first candidate; in ``DetectAtAudioStart`` mode the first answer stays."""
    if not turn.output.identify:
        return event
    language = turn.identified or event.language or turn.language
    if turn.identify_at_start:
        turn.identified = language
    return dataclasses.replace(event, language=language)


async def filtered(engine: Engine, turn: Turn, event: _Text) -> tuple[_Text, dict[str, str]]:
    """The event with the turn's profanity option applied, and its translations as
    synthesis should speak them (see :mod:`shim.emulator.profanity`)."""
    words = marked_words(event.text, turn.language)
    translated: dict[str, tuple[str, ...]] = {}
    if words and turn.profanity.lower() != RAW:
        for target in event.translations:
            translated[target] = await engine.translate_words(words, turn.language, target)
    result = apply_profanity(
        event.text, turn.language, event.translations, turn.profanity, translated
    )
    shown = dataclasses.replace(event, text=result.text, translations=result.translations)
    return shown, result.spoken


# ---- what the service sends for a turn's events (path and body) ---------------------------
SILENCE = "InitialSilenceTimeout"


def phrase_path(turn: Turn) -> str:
    return "translation.phrase" if turn.kind is Kind.TRANSLATION else "speech.phrase"


def hypothesis_message(turn: Turn, event: Hypothesis) -> tuple[str, dict[str, Any]]:
    if turn.kind is Kind.TRANSLATION:
        body = usp_bodies.translation_hypothesis(
            event, turn.base, turn.translation_failure, turn.output
        )
        return "translation.hypothesis", body
    return "speech.hypothesis", usp_bodies.speech_hypothesis(event, turn.base, turn.output)


def phrase_message(turn: Turn, phrase: Phrase) -> tuple[str, dict[str, Any]]:
    if turn.kind is Kind.TRANSLATION:
        body = usp_bodies.translation_phrase(
            phrase, turn.base, turn.interactive, turn.translation_failure, turn.output
        )
        return "translation.phrase", body
    return "speech.phrase", usp_bodies.speech_phrase(
        phrase, turn.base, turn.output, turn.interactive
    )


def silence_message(turn: Turn, offset: int, duration: int) -> tuple[str, dict[str, Any], str]:
    """An empty phrase for silence, in the form the service uses on this path and mode, and
    the recognition status it counts as."""
    if turn.kind is Kind.TRANSLATION and not turn.interactive:
        body = usp_bodies.translation_silence(
            offset, duration, turn.base, turn.targets, turn.translation_failure
        )
        return phrase_path(turn), body, usp_bodies.SUCCESS
    phrase = Phrase(offset, duration, "", {}, SILENCE)
    if turn.kind is Kind.TRANSLATION:
        body = usp_bodies.translation_phrase(phrase, turn.base, turn.interactive)
    else:
        body = usp_bodies.speech_phrase(phrase, turn.base, turn.output, turn.interactive)
    return phrase_path(turn), body, SILENCE
