"""Bodies of the service's USP messages, built from engine events (sans-I/O).

Offsets go out turn-relative: the SDK adds the turn's base itself (spec §6). A phrase without
a recognition still carries its (empty) text the way the service sends it: ``Text: ""`` in
``translation.phrase`` (the JavaScript SDK reports a missing ``Text`` as ``undefined``), and
``DisplayText: ""`` in a CONVERSATION ``speech.phrase`` but none in INTERACTIVE mode, which is
what the JavaScript SDK's own tests expect of the service (``""`` and ``undefined``).
"""

from __future__ import annotations

import re
import struct
from typing import Any

from shim.emulator.engines.base import Hypothesis, Phrase

SUCCESS = "Success"


def _translations(translations: dict[str, str]) -> dict[str, Any]:
    return {
        "TranslationStatus": SUCCESS,
        "Translations": [{"Language": k, "Text": v} for k, v in translations.items()],
    }


def translation_hypothesis(event: Hypothesis, base: int) -> dict[str, Any]:
    return {
        "Text": event.text,
        "Offset": event.offset - base,
        "Duration": event.duration,
        "Translation": _translations(event.translations),
    }


def translation_phrase(event: Phrase, base: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RecognitionStatus": event.status,
        "Offset": event.offset - base,
        "Duration": event.duration,
    }
    if event.status == SUCCESS:
        body["Text"] = event.text
        body["DisplayText"] = event.text
        body["Translation"] = _translations(event.translations)
    else:
        body["Text"] = ""
    return body


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


def strip_wav_header(payload: bytes) -> bytes:
    """PCM after a RIFF header's ``data`` chunk; the payload itself when it has no header."""
    if len(payload) < 12 or payload[:4] != b"RIFF" or payload[8:12] != b"WAVE":
        return payload
    position = 12
    while position + 8 <= len(payload):
        chunk, size = (
            payload[position : position + 4],
            struct.unpack_from("<I", payload, position + 4)[0],
        )
        if chunk == b"data":
            return payload[position + 8 :]
        position += 8 + size + (size & 1)
    return b""
