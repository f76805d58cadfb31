"""/languages and /sts/v1.0/issueToken over real HTTP on loopback (LG1–LG4, AU1–AU4), and
the live catalog refresh against a real HTTP server answering from in-memory data."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shim.auth import Authenticator, ClientKeys, TokenIssuer
from shim.catalog import Catalog
from shim.catalog.live import LiveCatalog
from shim.legacy.request import Credential
from shim.logs import AccessLogger
from shim.server.languages_routes import add_languages_routes
from shim.server.token_routes import add_token_routes

pytestmark = pytest.mark.e2e

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
DATA = Path(__file__).resolve().parents[2] / "shim" / "data" / "azure-speech-catalog.json"
CLIENT_KEY = "browser-app-key"
AZURE_KEY = "live-refresh-azure-key-0123456789"
REQUEST_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer("e2e-token-secret")


@pytest.fixture
def authenticator(issuer: TokenIssuer) -> Authenticator:
    return Authenticator("keys", issuer, keys=ClientKeys.parse(CLIENT_KEY))


@pytest.fixture
async def client(
    authenticator: Authenticator, issuer: TokenIssuer
) -> AsyncIterator[aiohttp.ClientSession]:
    app = web.Application()
    add_languages_routes(app, Catalog.bundled())
    add_token_routes(app, authenticator, issuer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log_class=AccessLogger)
    async with server, aiohttp.ClientSession(base_url=str(server.make_url(""))) as session:
        yield session


def assert_common_headers(response: aiohttp.ClientResponse) -> None:
    assert REQUEST_ID.fullmatch(response.headers["X-RequestId"])
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def error_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = json.loads(await response.text())
    return body["error"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- /languages


@pytest.mark.parametrize("path", ["/languages", "/Languages", "/LANGUAGES"])
async def test_lg1_languages_answers_on_any_path_case_without_authentication(
    client: aiohttp.ClientSession, path: str
) -> None:
    async with client.get(f"{path}?api-version=1.0&scope=speech,text,tts") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert_common_headers(response)
        text = await response.text()
    doc = json.loads(text)
    assert text == json.dumps(doc, separators=(",", ":"), ensure_ascii=False)  # compact
    assert list(doc) == ["speech", "text", "tts"]
    for scope, value in doc.items():
        schema = json.loads((CONTRACTS / f"languages-{scope}.schema.json").read_text("utf-8"))
        jsonschema.Draft202012Validator(schema).validate(value)
    assert {e["language"] for e in doc["speech"].values()} <= set(doc["text"])
    assert {e["language"] for e in doc["tts"].values()} <= set(doc["text"])


async def test_lg1_default_scope_is_text_and_each_response_has_its_own_request_id(
    client: aiohttp.ClientSession,
) -> None:
    ids = set()
    for _ in range(3):
        async with client.get("/languages", params={"api-version": "1.0"}) as response:
            ids.add(response.headers["X-RequestId"])
            assert list(await response.json()) == ["text"]
    assert len(ids) == 3


async def test_flight_current_serves_today_s_catalog(client: aiohttp.ClientSession) -> None:
    query = {"api-version": "1.0", "scope": "tts", "flight": "current"}
    async with client.get("/languages", params=query) as response:
        doc = await response.json()
    assert "de-DE-KatjaNeural" in doc["tts"] and "de-DE-Katja" not in doc["tts"]
    query["flight"] = "experimental"
    async with client.get("/languages", params=query) as response:
        assert "de-DE-Katja" in (await response.json())["tts"]


async def test_lg4_accept_language_over_http(client: aiohttp.ClientSession) -> None:
    headers = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    async with client.get("/languages?api-version=1.0", headers=headers) as response:
        doc = await response.json()
        assert "Accept-Language" in response.headers["Vary"]
    assert doc["text"]["fr"]["name"] == "français"
    assert doc["text"]["de"]["name"] == "allemand"
    headers = {"Accept-Language": "sjn"}
    async with client.get("/languages?api-version=1.0", headers=headers) as response:
        assert (await response.json())["text"]["fr"]["name"] == "French"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("", "api-version"),
        ("?scope=text", "api-version"),
        ("?api-version=2.0", "api-version"),
        ("?api-version=1.0&scope=speech,voices", "scope"),
    ],
)
async def test_lg1_bad_languages_request_answers_400_with_json_and_headers(
    client: aiohttp.ClientSession, query: str, parameter: str
) -> None:
    async with client.get(f"/Languages{query}") as response:
        assert response.status == 400
        assert_common_headers(response)
        error = await error_of(response)
    assert error["code"] == 400000 and parameter in error["message"]


@pytest.mark.parametrize("path", ["/languages", "/sts/v1.0/issueToken"])
async def test_cors_preflight_is_answered(client: aiohttp.ClientSession, path: str) -> None:
    headers = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST" if "sts" in path else "GET",
        "Access-Control-Request-Headers": "ocp-apim-subscription-key",
    }
    async with client.options(path, headers=headers) as response:
        assert response.status == 204
        assert_common_headers(response)
        assert (
            headers["Access-Control-Request-Method"]
            in (response.headers["Access-Control-Allow-Methods"])
        )
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert "ocp-apim-subscription-key" in allowed
        assert response.headers["Access-Control-Expose-Headers"] == "X-RequestId"


# ---------------------------------------------------------------------- issueToken


async def _issued(response: aiohttp.ClientResponse) -> str:
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert_common_headers(response)
    return await response.text()


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/sts/v1.0/issueToken", {"Ocp-Apim-Subscription-Key": CLIENT_KEY}),
        ("/sts/v1.0/issuetoken", {"ocp-apim-subscription-key": CLIENT_KEY}),
        (f"/sts/v1.0/issueToken?Subscription-Key={CLIENT_KEY}", {}),
        (f"/STS/v1.0/issueToken?subscription-key={CLIENT_KEY}", {}),
        (f"/sts/v1.0/issueToken?subscription-key={CLIENT_KEY}", {"Content-Length": "0"}),
    ],
)
async def test_au3_issue_token_then_the_token_authenticates(
    client: aiohttp.ClientSession,
    authenticator: Authenticator,
    issuer: TokenIssuer,
    path: str,
    headers: dict[str, str],
) -> None:
    async with client.post(path, headers=headers) as response:
        token = await _issued(response)
    claims = issuer.verify(token)
    assert claims.expires_at - claims.issued_at == 600
    grant = authenticator.authenticate(Credential("token", token))
    assert grant.subject == authenticator.authenticate(Credential("key", CLIENT_KEY)).subject
    assert CLIENT_KEY not in token


async def test_au3_key_header_wins_over_the_query(client: aiohttp.ClientSession) -> None:
    path = "/sts/v1.0/issueToken?Subscription-Key=wrong"
    async with client.post(path, headers={"Ocp-Apim-Subscription-Key": CLIENT_KEY}) as r:
        await _issued(r)
    path = f"/sts/v1.0/issueToken?Subscription-Key={CLIENT_KEY}"
    async with client.post(path, headers={"Ocp-Apim-Subscription-Key": "wrong"}) as r:
        assert r.status == 401


@pytest.mark.parametrize(
    ("path", "headers", "code"),
    [
        ("/sts/v1.0/issueToken", {}, 401000),
        ("/sts/v1.0/issueToken?Subscription-Key=", {}, 401000),
        ("/sts/v1.0/issueToken", {"Ocp-Apim-Subscription-Key": "wrong-key"}, 401001),
        ("/sts/v1.0/issueToken?Subscription-Key=wrong-key", {}, 401001),
    ],
)
async def test_au2_issue_token_without_a_valid_key_answers_401_json(
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    path: str,
    headers: dict[str, str],
    code: int,
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with client.post(path, headers=headers) as response:
            assert response.status == 401
            assert_common_headers(response)
            error = await error_of(response)
    assert error["code"] == code
    assert "wrong-key" not in error["message"] and CLIENT_KEY not in error["message"]
    assert "wrong-key" not in caplog.text


async def test_au4_issuing_a_token_logs_neither_key_nor_token(
    client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        headers = {"Ocp-Apim-Subscription-Key": CLIENT_KEY}
        async with client.post("/sts/v1.0/issueToken", headers=headers) as response:
            token = await _issued(response)
    assert CLIENT_KEY not in caplog.text and token not in caplog.text
    assert token.split(".")[2] not in caplog.text


async def test_au4_access_log_masks_credentials_in_the_query(
    client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        async with client.post(f"/sts/v1.0/issueToken?Subscription-Key={CLIENT_KEY}") as r:
            token = await _issued(r)
        async with client.get(f"/languages?api-version=1.0&access_token={token}") as r:
            assert r.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2
    assert "Subscription-Key=REDACTED" in lines[0] and "access_token=REDACTED" in lines[1]
    assert CLIENT_KEY not in caplog.text and token not in caplog.text


async def test_token_routes_refuse_a_token_issuer_the_authenticator_does_not_verify_with(
    authenticator: Authenticator,
) -> None:
    with pytest.raises(ValueError):
        add_token_routes(web.Application(), authenticator, TokenIssuer("other"))


# ---------------------------------------------------------------------- live refresh


class FakeAzure:
    """Answers the voices list and Translator languages like the live hosts, from memory."""

    def __init__(self) -> None:
        data = json.loads(DATA.read_text("utf-8"))
        self.voices: Any = [
            {
                "ShortName": v["short_name"],
                "Locale": v["locale"],
                "Gender": v["gender"].capitalize(),
                "DisplayName": v["display_name"],
                "LocaleName": v["language_name"],
                "VoiceType": "Neural",
                "Status": "Preview" if v["preview"] else "GA",
            }
            for v in data["neural_voices"]
        ]
        self.voices.append(
            {"ShortName": "de-DE-NovaNeural", "Locale": "de-DE", "Gender": "Female"}
            | {"DisplayName": "Nova", "LocaleName": "German (Germany)", "VoiceType": "Neural"}
        )
        self.languages = {
            "translation": {
                t["code"]: {"name": t["name"], "nativeName": t["native_name"], "dir": t["dir"]}
                for t in data["translation_text_languages"]
            }
        }
        self.status = 200
        self.body: bytes | None = None
        self.delay = 0.0
        self.seen: list[tuple[str, str | None, dict[str, str]]] = []

    async def voices_list(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            ("voices", request.headers.get("Ocp-Apim-Subscription-Key"), dict(request.query))
        )
        return await self._answer(self.voices)

    async def translator(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            ("languages", request.headers.get("Ocp-Apim-Subscription-Key"), dict(request.query))
        )
        return await self._answer(self.languages)

    async def _answer(self, payload: Any) -> web.StreamResponse:
        await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": "boom"}, status=self.status)
        if self.body is not None:
            return web.Response(body=self.body, content_type="application/json")
        return web.json_response(payload)


@pytest.fixture
async def fake_azure() -> AsyncIterator[tuple[FakeAzure, str]]:
    fake = FakeAzure()
    app = web.Application()
    app.router.add_get("/cognitiveservices/voices/list", fake.voices_list)
    app.router.add_get("/languages", fake.translator)
    async with TestServer(app, host="127.0.0.1") as server:
        yield fake, str(server.make_url("")).rstrip("/")


def live_catalog(base: str, **kwargs: Any) -> LiveCatalog:
    kwargs.setdefault("translator_base", base)
    return LiveCatalog(
        Catalog.bundled(), key=AZURE_KEY, region="westeurope", tts_base=base, **kwargs
    )


async def test_live_refresh_reads_both_services_and_merges_over_the_bundled_data(
    fake_azure: tuple[FakeAzure, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, base = fake_azure
    live = live_catalog(base)
    with caplog.at_level(logging.DEBUG, logger="shim.catalog.live"):
        catalog = await live.refresh()
    assert live.current() is catalog
    assert catalog.origin == "live:translator+voices"
    assert catalog.resolve_voice("de-DE-NovaNeural", "de") == "de-DE-NovaNeural"
    assert sorted(fake.seen, key=lambda s: s[0]) == [
        ("languages", None, {"api-version": "3.0", "scope": "translation"}),
        ("voices", AZURE_KEY, {}),
    ]
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert AZURE_KEY not in caplog.text
    await live.close()


@pytest.mark.parametrize(
    ("status", "body", "delay"),
    [
        (500, None, 0.0),
        (200, b"{not json", 0.0),
        (200, b'{"unexpected": 1}', 0.0),
        (200, None, 2.0),
    ],
    ids=["http-500", "bad-json", "unusable", "timeout"],
)
async def test_live_refresh_falls_back_to_the_bundled_data_with_one_warning(
    fake_azure: tuple[FakeAzure, str],
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: bytes | None,
    delay: float,
) -> None:
    fake, base = fake_azure
    fake.status, fake.body, fake.delay = status, body, delay
    live = live_catalog(base, timeout_s=0.5)
    with caplog.at_level(logging.DEBUG, logger="shim.catalog.live"):
        catalog = await live.refresh()
    assert catalog is Catalog.bundled()
    assert live.current() is catalog
    records = [r for r in caplog.records if r.name == "shim.catalog.live"]
    assert [r.levelname for r in records] == ["WARNING"]
    assert AZURE_KEY not in caplog.text
    await live.close()


async def test_live_refresh_keeps_the_good_part_when_one_service_fails(
    fake_azure: tuple[FakeAzure, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, base = fake_azure
    live = live_catalog(base, translator_base=base + "/missing")
    with caplog.at_level(logging.WARNING, logger="shim.catalog.live"):
        catalog = await live.refresh()
    assert catalog.origin == "live:voices"
    assert "de-DE-NovaNeural" in {v.short_name for v in catalog.voices}
    assert len(caplog.records) == 1 and "HTTP 404" in caplog.records[0].getMessage()
    await live.close()


async def test_live_catalog_refreshes_in_the_background_once_stale(
    fake_azure: tuple[FakeAzure, str],
) -> None:
    fake, base = fake_azure
    now = [0.0]
    live = live_catalog(base, ttl_s=60, clock=lambda: now[0])
    first = live.current()  # never refreshed: serves bundled, starts a refresh
    assert first is Catalog.bundled()
    for _ in range(100):
        if live.current() is not first:
            break
        await asyncio.sleep(0.02)
    assert live.current().origin == "live:translator+voices"
    calls = len(fake.seen)
    now[0] += 30
    live.current()
    await asyncio.sleep(0.1)
    assert len(fake.seen) == calls  # still fresh
    now[0] += 31
    live.current()
    for _ in range(100):
        if len(fake.seen) >= calls + 2:
            break
        await asyncio.sleep(0.02)
    assert len(fake.seen) == calls + 2
    await live.close()
