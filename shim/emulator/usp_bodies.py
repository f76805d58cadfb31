"""Bodies of the service's USP messages, built from engine events (sans-I/O).

Offsets go out turn-relative: the SDK adds the turn's base itself (spec §6). A phrase without
a recognition carries its (empty) text the way the JavaScript SDK's own tests expect of the
service: ``Text: ""`` in a continuous ``translation.phrase`` and ``DisplayText: ""`` in a
continuous ``speech.phrase``, but no text at all in once mode (the SDK reports it as
``undefined``). In continuous translation a silent stretch is an *empty successful* phrase
(:func:`translation_silence`), and the end of the client's audio an ``EndOfDictation``
phrase, which both SDKs take as an acknowledgement without an event (:func:`end_of_dictation`).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from shim.emulator.engines.base import Hypothesis, Phrase
from shim.pcmformat import PCM_16K_MONO, FormatError, WavFormat, parse_fmt_chunk

SUCCESS = "Success"
CONFIDENCE = 0.95  # our choice: engines here give no confidence worth reporting


@dataclass(frozen=True)
class Output:
    """What a turn asked to get with each phrase."""

    detailed: bool = False  # NBest (OutputFormat.Detailed)
    words: bool = False  # word timings in NBest (request_word_level_timestamps)
    identify: bool = False  # language identification: PrimaryLanguage


def _lexical(text: str) -> str:
    return re.sub(r"[^\w\s']", "", text).lower()


def _nbest(event: Phrase, base: int, words: bool) -> list[dict[str, Any]]:
    """One alternative, as the service lists them. Word times split the phrase in proportion
    to each word's length (our choice: the engines give no word times)."""
    lexical = _lexical(event.text)
    best: dict[str, Any] = {
        "Confidence": CONFIDENCE,
        "Lexical": lexical,
        "ITN": lexical,
        "MaskedITN": lexical,
        "Display": event.text,
    }
    if words:
        spoken = lexical.split()
        total = sum(len(w) + 1 for w in spoken) or 1
        timed, at = [], event.offset
        for word in spoken:
            length = event.duration * (len(word) + 1) // total
            timed.append({"Word": word, "Offset": at - base, "Duration": length})
            at += length
        best["Words"] = timed
    return [best]


def _identified(body: dict[str, Any], language: str | None, output: Output) -> dict[str, Any]:
    """The language identification's answer, where the service puts it."""
    if output.identify and language:
        body["PrimaryLanguage"] = {"Language": language, "Confidence": "High"}
    return body


def _translations(translations: dict[str, str], failure: str | None = None) -> dict[str, Any]:
    if failure is not None:
        return {"TranslationStatus": "Error", "FailureReason": failure}
    return {
        "TranslationStatus": SUCCESS,
        "Translations": [{"Language": k, "Text": v} for k, v in translations.items()],
    }


def translation_hypothesis(
    event: Hypothesis, base: int, failure: str | None = None, output: Output = Output()
) -> dict[str, Any]:
    body = {
        "Text": event.text,
        "Offset": event.offset - base,
        "Duration": event.duration,
        "Translation": _translations(event.translations, failure),
    }
    return _identified(body, event.language, output)


def translation_phrase(
    event: Phrase,
    base: int,
    interactive: bool = False,
    failure: str | None = None,
    output: Output = Output(),
) -> dict[str, Any]:
    """``failure``: the translation failed (an unknown target), the recognition stands."""
    body: dict[str, Any] = {
        "RecognitionStatus": event.status,
        "Offset": event.offset - base,
        "Duration": event.duration,
    }
    if event.status == SUCCESS:
        body["Text"] = event.text
        body["DisplayText"] = event.text
        if output.detailed:
            body["NBest"] = _nbest(event, base, output.words)
        body["Translation"] = _translations(event.translations, failure)
        _identified(body, event.language, output)
    elif not interactive:
        body["Text"] = ""
    return body


def translation_silence(
    offset: int, duration: int, base: int, targets: tuple[str, ...], failure: str | None = None
) -> dict[str, Any]:
    """Silence in continuous translation: an empty *successful* phrase, which the JavaScript
    SDK's "Silence Then Speech" test counts as ``TranslatedSpeech`` without text."""
    return {
        "RecognitionStatus": SUCCESS,
        "Offset": offset - base,
        "Duration": duration,
        "Text": "",
        "DisplayText": "",
        "Translation": _translations(dict.fromkeys(targets, ""), failure),
    }


def translation_response(body: dict[str, Any]) -> dict[str, Any]:
    """A ``translation.phrase`` or ``translation.hypothesis`` body in the other form the
    service sends, ``translation.response``: the recognition in ``SpeechPhrase`` (or
    ``SpeechHypothesis``), the translation's status and texts beside it. With language
    identification the service answers in this form: it is the one from which the Python
    SDK fills a translation's ``AutoDetectSourceLanguageResult`` (observed: from
    ``PrimaryLanguage`` in ``translation.phrase`` it does not)."""
    translation = body.get("Translation") or {"TranslationStatus": SUCCESS, "Translations": []}
    speech = {k: v for k, v in body.items() if k not in ("Translation", "Text", "DisplayText")}
    if "RecognitionStatus" in body:
        if "DisplayText" in body or "Text" in body:
            speech["DisplayText"] = body.get("DisplayText", body.get("Text", ""))
        return {"SpeechPhrase": speech, **translation}
    speech["Text"] = body.get("Text", "")
    return {"SpeechHypothesis": speech, **translation}


def synthesis_failure(reason: str) -> dict[str, Any]:
    """A synthesis that could not be made: the SDKs cancel with ``ServiceError`` and it."""
    return {"SynthesisStatus": "Error", "FailureReason": reason}


def end_of_dictation(offset: int, duration: int, base: int) -> dict[str, Any]:
    """The last phrase of a continuous turn the client ended: it acknowledges the audio's
    tail and raises no event (the JavaScript SDK's telemetry test counts three phrases for
    two utterances)."""
    return {"RecognitionStatus": "EndOfDictation", "Offset": offset - base, "Duration": duration}


def speech_hypothesis(event: Hypothesis, base: int, output: Output = Output()) -> dict[str, Any]:
    body = {"Text": event.text, "Offset": event.offset - base, "Duration": event.duration}
    return _identified(body, event.language, output)


def speech_phrase(
    event: Phrase, base: int, output: Output = Output(), interactive: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RecognitionStatus": event.status,
        "Offset": event.offset - base,
        "Duration": event.duration,
    }
    if event.status == SUCCESS:
        body["DisplayText"] = event.text
        if output.detailed:
            body["NBest"] = _nbest(event, base, output.words)
        _identified(body, event.language, output)
    elif not interactive:
        body["DisplayText"] = ""
    return body


def wav_header(data_bytes: int, rate: int = 16_000, channels: int = 1, bits: int = 16) -> bytes:
    """The canonical 44-byte RIFF header."""
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def read_wav_header(payload: bytes) -> tuple[WavFormat, bytes]:
    """The format a turn's first audio message declares (its RIFF header: the SDKs send the
    stream format there, 16 kHz 16-bit mono PCM unless told otherwise) and the audio after
    the header's ``data`` chunk. A message without a header is 16 kHz mono 16-bit PCM.
    Raises FormatError for a header without a usable ``fmt`` chunk."""
    if len(payload) < 12 or payload[:4] != b"RIFF" or payload[8:12] != b"WAVE":
        return PCM_16K_MONO, payload
    position, fmt = 12, None
    while position + 8 <= len(payload):
        chunk, size = (
            payload[position : position + 4],
            struct.unpack_from("<I", payload, position + 4)[0],
        )
        if chunk == b"data":
            if fmt is None:
                raise FormatError("WAV data chunk comes before the fmt chunk", unsupported=False)
            return fmt, payload[position + 8 :]
        if chunk == b"fmt ":
            fmt = parse_fmt_chunk(payload[position + 8 : position + 8 + size])
        position += 8 + size + (size & 1)
    raise FormatError("WAV header without a data chunk", unsupported=False)
