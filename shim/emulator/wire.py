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
from typing import Any

from shim.emulator.engines.base import Hypothesis, Phrase
from shim.pcmformat import PCM_16K_MONO, FormatError, WavFormat, parse_fmt_chunk

SUCCESS = "Success"


def _translations(translations: dict[str, str], failure: str | None = None) -> dict[str, Any]:
    if failure is not None:
        return {"TranslationStatus": "Error", "FailureReason": failure}
    return {
        "TranslationStatus": SUCCESS,
        "Translations": [{"Language": k, "Text": v} for k, v in translations.items()],
    }


def translation_hypothesis(
    event: Hypothesis, base: int, failure: str | None = None
) -> dict[str, Any]:
    return {
        "Text": event.text,
        "Offset": event.offset - base,
        "Duration": event.duration,
        "Translation": _translations(event.translations, failure),
    }


def translation_phrase(
    event: Phrase, base: int, interactive: bool = False, failure: str | None = None
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
        body["Translation"] = _translations(event.translations, failure)
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


def synthesis_failure(reason: str) -> dict[str, Any]:
    """A synthesis that could not be made: the SDKs cancel with ``ServiceError`` and it."""
    return {"SynthesisStatus": "Error", "FailureReason": reason}


def end_of_dictation(offset: int, duration: int, base: int) -> dict[str, Any]:
    """The last phrase of a continuous turn the client ended: it acknowledges the audio's
    tail and raises no event (the JavaScript SDK's telemetry test counts three phrases for
    two utterances)."""
    return {"RecognitionStatus": "EndOfDictation", "Offset": offset - base, "Duration": duration}


def speech_hypothesis(event: Hypothesis, base: int) -> dict[str, Any]:
    return {"Text": event.text, "Offset": event.offset - base, "Duration": event.duration}


def speech_phrase(
    event: Phrase, base: int, detailed: bool, interactive: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RecognitionStatus": event.status,
        "Offset": event.offset - base,
        "Duration": event.duration,
    }
    if event.status == SUCCESS:
        body["DisplayText"] = event.text
        if detailed:
            lexical = re.sub(r"[^\w\s']", "", event.text).lower()
            body["NBest"] = [
                {
                    "Confidence": 0.95,
                    "Lexical": lexical,
                    "ITN": lexical,
                    "MaskedITN": lexical,
                    "Display": event.text,
                }
            ]
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
