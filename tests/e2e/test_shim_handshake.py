"""The /speech/translate handshake: 400/401 before the upgrade, and the 101 itself (HS*, AU*)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import jsonschema
import pytest

from tests.support.paths import ROOT
from tests.support.processes import Shim

pytestmark = pytest.mark.e2e

ERROR_SCHEMA = json.loads((ROOT / "contracts" / "handshake-error.schema.json").read_text())
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
GOOD = {"api-version": "1.0", "from": "en-US", "to": "de"}
KEY = {"Ocp-Apim-Subscription-Key": "any"}


async def _get(
    shim: Shim, query: dict[str, str], headers: dict[str, str], path: str = "/speech/translate"
) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(shim.url + path, params=query, headers={**UPGRADE, **headers}) as response,
    ):
        return response.status, dict(response.headers), await response.text()


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"from": "en-US", "to": "de"}, "api-version"),
        ({**GOOD, "api-version": "2.0"}, "api-version"),
        ({"api-version": "1.0", "to": "de"}, "from"),
        ({"api-version": "1.0", "from": "en-US"}, "to"),
        ({**GOOD, "from": "xx-XX"}, "from"),
        ({**GOOD, "to": "qq"}, "to"),
        ({**GOOD, "format": "audio/ogg"}, "format"),
        ({**GOOD, "ProfanityAction": "Shout"}, "ProfanityAction"),
        ({**GOOD, "ProfanityMarker": "Emoji"}, "ProfanityMarker"),
        ({**GOOD, "X-CorrelationId": "not valid!"}, "X-CorrelationId"),
        ({**GOOD, "features": "texttospeech", "voice": "xx-XX-Nobody"}, "voice"),
    ],
)
async def test_bad_parameters_are_400_before_the_upgrade_naming_the_parameter_HS4(
    shim: Shim, query: dict[str, str], parameter: str
) -> None:
    status, headers, body = await _get(shim, query, KEY)
    assert status == 400
    assert headers.get("X-RequestId")
    document = json.loads(body)
    jsonschema.validate(document, ERROR_SCHEMA)
    assert parameter.lower() in document["error"]["message"].lower()


async def test_unsupported_language_names_the_closest_supported_one(shim: Shim) -> None:
    status, _, body = await _get(shim, {**GOOD, "from": "en-UX"}, KEY)
    assert status == 400 and "en-US" in json.loads(body)["error"]["message"]


async def test_missing_credentials_are_401_AU2(shim: Shim) -> None:
    status, headers, body = await _get(shim, GOOD, {})
    assert status == 401 and headers.get("X-RequestId")
    jsonschema.validate(json.loads(body), ERROR_SCHEMA)


@pytest.mark.parametrize("path", ["/speech/translate", "/Speech/Translate", "/SPEECH/TRANSLATE"])
async def test_upgrade_answers_101_with_a_request_id_and_no_subprotocol_or_extension_HS1_HS2(
    shim: Shim, path: str
) -> None:
    headers = {
        **KEY,
        "Sec-WebSocket-Protocol": "USP, chat",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
    }
    query = {
        **GOOD,
        "profanity": "Strict",
        "flight": "experimental",
        "X-ClientAppId": "x",
        "voice": "",
        "format": "",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            shim.ws_url + path,
            params=query,
            headers=headers,
            protocols=("USP", "chat"),
            compress=15,
        ) as ws,
    ):
        response_headers = ws._response.headers
        assert response_headers.get("X-RequestId")
        assert "Sec-WebSocket-Protocol" not in response_headers
        assert "Sec-WebSocket-Extensions" not in response_headers
        await ws.close()


async def test_plain_get_without_upgrade_is_a_400(shim: Shim) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(shim.url + "/speech/translate", params=GOOD, headers=KEY) as response,
    ):
        assert response.status == 400
        assert "websocket" in (await response.text()).lower()


async def test_healthz_reports_backend_and_sessions(shim: Shim) -> None:
    async with aiohttp.ClientSession() as http, http.get(shim.url + "/healthz") as response:
        body = await response.json()
    assert response.status == 200 and body["backend"] == "host" and "sessions" in body


def test_serve_refuses_open_access_on_a_public_interface(tmp_path: Path) -> None:
    import subprocess

    from tests.support.processes import shim_command

    result = subprocess.run(
        shim_command("serve", "--host", "0.0.0.0", "--port", "0"),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 2
    assert "without --auth" in result.stderr
