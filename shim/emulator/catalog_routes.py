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
from typing import Any

from aiohttp import web

Gate = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


@cache
def _bundled() -> dict[str, Any]:
    text = resources.files("shim").joinpath("data/azure-speech-catalog.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def voices_list() -> list[dict[str, Any]]:
    """The bundled neural voices in the shape of the service's voices/list response."""
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
                "SampleRateHertz": "24000",
                "VoiceType": "Neural",
                "Status": "Preview" if voice.get("preview") else "GA",
            }
        )
    return voices


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


def add_routes(app: web.Application, gate: Gate) -> None:
    async def voices(request: web.Request) -> web.StreamResponse:
        if not request.headers.get("Ocp-Apim-Subscription-Key"):
            return web.json_response({"error": {"code": 401, "message": "missing key"}}, status=401)
        refused = await gate(request)
        return refused or web.json_response(voices_list())

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
