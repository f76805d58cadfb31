"""Catalog endpoints of the local Speech service, served from the bundled data.

``GET /cognitiveservices/voices/list`` answers like the regional TTS host and
``GET /languages?api-version=3.0&scope=translation`` like the Translator host, so the
shim's live catalog refresh is exercised for real against this service.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

Gate = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


@cache
def _bundled() -> dict[str, Any]:
    text = resources.files("shim").joinpath("data/azure-speech-catalog.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# Azure tags every voice with the scenarios it suits and its personality; the bundled catalog
# has no tags, so these are the service's own choice: the tags the SDKs' tests name (the JS
# SDK's testGetVoicesAsyncUS: en-US-AvaNeural's first TailoredScenarios entry is "Chat"), and
# empty lists for the other voices. ``--voices FILE`` serves a real list instead.
VOICE_TAGS: dict[str, dict[str, list[str]]] = {
    "en-US-AvaNeural": {"TailoredScenarios": ["Chat"], "VoicePersonalities": []},
}
WORDS_PER_MINUTE = "150"  # our choice: Azure gives each voice its own rate


@cache
def voices_list() -> list[dict[str, Any]]:
    """The bundled neural voices in the shape of the service's voices/list response, with
    every field the SDKs' ``VoiceInfo`` reads."""
    voices = []
    for voice in _bundled()["neural_voices"]:
        locale = voice["locale"]
        name = voice["short_name"].removeprefix(f"{locale}-")
        voices.append(
            {
                "Name": f"Microsoft Server Speech Text to Speech Voice ({locale}, {name})",
                "DisplayName": voice["display_name"],
                "LocalName": voice["display_name"],
                "ShortName": voice["short_name"],
                "Gender": voice["gender"].capitalize(),
                "Locale": locale,
                "LocaleName": voice["language_name"],
                "SampleRateHertz": "48000" if voice.get("hd") else "24000",
                "VoiceType": "NeuralHD" if voice.get("hd") else "Neural",
                "Status": "Preview" if voice.get("preview") else "GA",
                "WordsPerMinute": WORDS_PER_MINUTE,
                "VoiceTag": VOICE_TAGS.get(
                    voice["short_name"], {"TailoredScenarios": [], "VoicePersonalities": []}
                ),
            }
        )
    return voices


def load_voices(path: Path) -> list[dict[str, Any]]:
    """A voices list file (Azure's voices/list response, e.g. saved from a real region):
    served instead of the bundled one."""
    data = json.loads(path.read_text("utf-8"))
    if not isinstance(data, list) or not all(
        isinstance(v, dict) and "ShortName" in v for v in data
    ):
        raise ValueError(f"{path}: not a voices list (a JSON array of objects with ShortName)")
    return data


@cache
def translator_languages() -> dict[str, Any]:
    return {
        "translation": {
            lang["code"]: {
                "name": lang["name"],
                "nativeName": lang.get("native_name", lang["name"]),
                "dir": lang["dir"],
            }
            for lang in _bundled()["translation_text_languages"]
        }
    }


def add_routes(
    app: web.Application,
    gate: Gate,
    keyed_gate: Gate,
    voices_file: Path | None = None,
) -> None:
    """``gate`` refuses what an injected fault says; ``keyed_gate`` also checks the key the
    way the WebSocket routes do (401 for a key the service does not know), as Azure's voices
    list does: the SDKs' tests expect a bad key to fail there too."""

    served = load_voices(voices_file) if voices_file else voices_list()

    async def voices(request: web.Request) -> web.StreamResponse:
        refused = await keyed_gate(request)
        return refused or web.json_response(served)

    async def languages(request: web.Request) -> web.StreamResponse:
        if request.query.get("api-version") != "3.0":
            return web.json_response(
                {
                    "error": {
                        "code": 400021,
                        "message": "The API version parameter is missing or invalid.",
                    }
                },
                status=400,
            )
        refused = await gate(request)
        return refused or web.json_response(translator_languages())

    app.router.add_get("/cognitiveservices/voices/list", voices)
    app.router.add_get("/languages", languages)
