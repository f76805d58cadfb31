"""Parsed legacy requests and SDK audio for the session cores' unit tests (no catalog, no SDK)."""

from __future__ import annotations

import struct

from shim.legacy.request import SessionRequest, parse_request


class Resolver:
    """A language resolver with just enough rules for requests in tests."""

    def normalize_from(self, value: str) -> str:
        return {"en": "en-US"}.get(value, value)

    def normalize_to(self, value: str) -> str:
        return value.split("-")[0]

    def resolve_voice(self, voice: str, target_language: str) -> str:
        return voice or f"{target_language}-XX-DefaultNeural"


def legacy_request(features: str, to: str = "de") -> SessionRequest:
    query = [("api-version", "1.0"), ("from", "en-US"), ("to", to), ("features", features)]
    return parse_request(query, {"Ocp-Apim-Subscription-Key": "k"}, Resolver())


def sdk_wav(samples: int = 1600) -> bytes:
    """One synthesis chunk as the Speech SDK hands it over: a WAV file of its own (silence)."""
    pcm = bytes(2 * samples)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(pcm))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
    )
