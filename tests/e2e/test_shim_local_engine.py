"""The embedded default with the real offline engines: legacy client → shim → SDK → local engine."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import AUDIO
from tests.support.processes import RunningProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPANISH = {
    "el",
    "la",
    "los",
    "las",
    "de",
    "que",
    "y",
    "en",
    "un",
    "una",
    "por",
    "para",
    "no",
    "su",
    "lo",
    "se",
    "es",
    "con",
    "qué",
    "pueda",
    "puede",
    "hacer",
    "país",
    "usted",
}


async def test_a_pair_the_local_engines_cannot_serve_is_refused_at_the_handshake(
    local_shim: RunningProcess,
) -> None:
    query = {"api-version": "1.0", "from": "en-US", "to": "de"}
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Ocp-Apim-Subscription-Key": "k",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.get(local_shim.url + "/speech/translate", params=query, headers=upgrade) as response,
    ):
        body = json.loads(await response.text())
    assert response.status == 400
    message = body["error"]["message"]
    assert "en-US" in message and "de" in message and "not supported" in message


async def test_english_speech_is_recognised_and_translated_to_spanish(
    local_shim: RunningProcess,
) -> None:
    import wave

    with wave.open(str(AUDIO / "en-US_jfk.wav")) as wav:
        pcm = wav.readframes(wav.getnframes())
    outcome = await run_messages(
        local_shim.url,
        "k",
        [header46() + pcm, bytes(64_000)],
        query={"api-version": "1.0", "from": "en-US", "to": "es"},
        close_after_send=True,
        timeout=120,
    )
    recognition = " ".join(f["recognition"] for f in outcome.finals).lower()
    assert "country" in recognition and "americans" in recognition
    words = " ".join(f["translation"] for f in outcome.finals).lower().replace(",", " ").split()
    assert sum(w in SPANISH for w in words) >= 3, words
