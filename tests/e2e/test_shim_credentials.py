"""Credentials on /speech/translate in each mode, the token service, limits, live catalog."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from shim.harness.session.request import Credential, build_headers, build_url
from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import AUDIO, read_pcm
from tests.support.processes import Emulator, RunningProcess, Shim, shim_command, start_process
from tests.support.scenarios import INSPECT, THREE
from tests.support.sessions import checked_session

pytestmark = pytest.mark.e2e

WAV = AUDIO / "en-US_whatstheweatherlike.wav"
ONE = {
    "utterances": [
        {
            "offset_ms": 100,
            "duration_ms": 1200,
            "text": "What's the weather like?",
            "translations": {"de": "Wie ist das Wetter?"},
        }
    ]
}


async def _token(base: str, key: str, form: str = "header") -> tuple[int, str]:
    url = base + "/sts/v1.0/issueToken"
    headers = {"Ocp-Apim-Subscription-Key": key} if form == "header" else {}
    params = {"Subscription-Key": key} if form == "query" else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, headers=headers, params=params) as response,
    ):
        return response.status, await response.text()


async def _session(base: str, credential: Credential, form: str) -> list[str]:
    url = build_url(
        base.replace("http", "ws", 1),
        from_="en-US",
        to="de",
        credential=credential,
        credential_form=form,
    )
    headers = build_headers(
        credential=credential,
        credential_form=form,
        client_info=None,
        client_info_form="header",
        extra_headers=None,
    )
    outcome = await checked_session(url, headers, WAV.read_bytes(), "whole-file", speed=0)
    if outcome.refused is not None:
        return [f"HTTP {outcome.refused.status}"]
    return [r.message["recognition"] for r in outcome.finals]


@pytest.fixture(scope="module")
def keyed_shim(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> RunningProcess:
    """--auth keys: one plain client key and one stored as sha256, each mapped to a backend key."""
    import hashlib

    directory = tmp_path_factory.mktemp("keys")
    backend = emulator.scenario(ONE)
    digest = hashlib.sha256(b"client-two").hexdigest()
    keys = directory / "keys.txt"
    keys.write_text(
        f"# test keys\nclient-one={backend}@westeurope\nsha256:{digest}={backend}@westeurope\n"
    )
    running = start_process(
        shim_command(
            "serve",
            "--port",
            "0",
            "--speech-host",
            emulator.url,
            "--auth",
            "keys",
            "--client-keys",
            str(keys),
            "--token-secret",
            "s3cret-for-tests-only-0123456789",
            "--max-sessions-per-key",
            "1",
        ),
        directory / "shim.log",
    )
    yield running
    assert running.stop() == 0


@pytest.mark.parametrize("form", ["header", "query"])
async def test_keys_mode_accepts_listed_keys_in_each_form_AU1(
    keyed_shim: RunningProcess, form: str
) -> None:
    assert await _session(keyed_shim.url, Credential("key", "client-one"), form) == [
        "What's the weather like?"
    ]
    assert await _session(keyed_shim.url, Credential("key", "client-two"), form) == [
        "What's the weather like?"
    ]


@pytest.mark.parametrize("form", ["header", "query"])
async def test_tokens_from_issue_token_work_as_bearer_and_access_token_AU3(
    keyed_shim: RunningProcess, form: str
) -> None:
    status, token = await _token(
        keyed_shim.url, "client-one", "query" if form == "query" else "header"
    )
    assert status == 200 and token.count(".") == 2
    assert await _session(keyed_shim.url, Credential("token", token), form) == [
        "What's the weather like?"
    ]


async def test_unknown_keys_and_bad_tokens_are_401_AU2(keyed_shim: RunningProcess) -> None:
    assert await _session(keyed_shim.url, Credential("key", "not-a-client"), "header") == [
        "HTTP 401"
    ]
    assert await _session(keyed_shim.url, Credential("token", "a.b.c"), "query") == ["HTTP 401"]
    status, body = await _token(keyed_shim.url, "not-a-client")
    assert status == 401 and "client-one" not in body
    assert "not-a-client" not in keyed_shim.log() and "client-one" not in keyed_shim.log()


async def test_sessions_beyond_the_per_key_limit_are_429(keyed_shim: RunningProcess) -> None:
    import asyncio

    pcm = read_pcm("en-US_whatstheweatherlike.wav")
    first = asyncio.create_task(run_messages(keyed_shim.url, "client-one", [header46() + pcm]))
    await asyncio.sleep(1.0)
    refused = await _session(keyed_shim.url, Credential("key", "client-one"), "header")
    first.cancel()
    assert refused == ["HTTP 429"]


async def test_browser_style_client_token_then_access_token_in_the_query(shim: Shim) -> None:
    """A browser app: fetch a token with XHR, then open the WebSocket with access_token=."""
    key = shim.emulator.scenario(THREE)
    async with aiohttp.ClientSession() as http:
        async with http.options(
            shim.url + "/sts/v1.0/issueToken",
            headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
        ) as preflight:
            assert preflight.headers["Access-Control-Allow-Origin"] == "*"
        async with http.post(
            shim.url + "/sts/v1.0/issueToken", params={"Subscription-Key": key}
        ) as response:
            token = await response.text()
            assert response.headers["Access-Control-Allow-Origin"] == "*"
    url = build_url(
        shim.ws_url,
        from_="en-US",
        to="de",
        features=("partial",),
        credential=Credential("token", token),
        credential_form="query",
    )
    outcome = await checked_session(url, [], (AUDIO / INSPECT).read_bytes(), "browser", speed=0)
    assert outcome.ended_as_expected, outcome.problems
    assert [r.message["recognition"] for r in outcome.finals] == [
        u["text"] for u in THREE["utterances"]
    ]


def _shim_with_live_catalog(emulator: Emulator, key: str, log: Path) -> RunningProcess:
    return start_process(
        shim_command(
            "serve",
            "--port",
            "0",
            "--speech-host",
            emulator.url,
            "--speech-key",
            key,
            "--auth",
            "passthrough",
        ),
        log,
    )


async def test_live_catalog_refresh_against_the_local_service_voices_list(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = _shim_with_live_catalog(emulator, emulator.scenario(ONE), tmp_path / "shim.log")
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                running.url + "/languages",
                params={"api-version": "1.0", "scope": "tts", "flight": "current"},
            ) as response,
        ):
            voices = (await response.json())["tts"]
        assert "de-DE-KatjaNeural" in voices
        assert "catalog refreshed" in running.log()
        assert "catalog refresh failed" not in running.log()
    finally:
        assert running.stop() == 0


async def test_live_catalog_falls_back_to_bundled_data_with_one_warning_on_500(
    emulator: Emulator, tmp_path: Path
) -> None:
    failing = emulator.scenario({"faults": [{"at_upgrade": True, "http_status": 500}]})
    running = _shim_with_live_catalog(emulator, failing, tmp_path / "shim.log")
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                running.url + "/languages",
                params={"api-version": "1.0", "scope": "speech,text,tts"},
            ) as response,
        ):
            document = await response.json()
        assert response.status == 200 and {"speech", "text", "tts"} <= set(document)
        assert running.log().count("catalog refresh failed") == 1
        assert failing not in running.log()
    finally:
        assert running.stop() == 0


async def test_a_key_at_its_limit_may_connect_again_as_soon_as_it_has_its_close(
    keyed_shim: RunningProcess,
) -> None:
    """The slot is free once the server's Close is sent, not when the client answers it: a
    client that reconnects at once (before, or without, echoing the Close) is not refused 429."""
    url = keyed_shim.url.replace("http", "ws", 1) + "/speech/translate"
    params = {"api-version": "1.0", "from": "en-US", "to": "de"}
    headers = {"Ocp-Apim-Subscription-Key": "client-one"}
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, params=params, headers=headers, autoclose=False) as ws,
    ):
        await ws.send_str("not audio")  # AI1: the server closes the session first
        message = await ws.receive(timeout=30)
        assert message.type == aiohttp.WSMsgType.CLOSE
        # our Close is withheld: the server waits for it (CLOSE_WAIT_SECONDS) meanwhile
        async with http.ws_connect(url, params=params, headers=headers) as again:
            await again.close()
