"""/languages tells the truth about the default embedded backend: it lists what the offline
engines serve, every pair it advertises is accepted at the handshake, and
``--languages-from catalog`` lists the whole catalog again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.support.processes import RunningProcess, shim_command, start_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _local_engines() -> None:
    from shim.emulator.engines.local import unavailable_reason

    why = unavailable_reason()
    if why is not None:
        # Then the default is the scripted engine, which serves every pair of the catalog.
        pytest.skip(f"local engines not installed: {why}")


@pytest.fixture(scope="module")
def default_shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """``serve`` exactly as ``make run`` starts it: no backend options."""
    _local_engines()
    log = tmp_path_factory.mktemp("served") / "shim.log"
    running = start_process(shim_command("serve", "--port", "0"), log, timeout=180)
    yield running
    assert running.stop() == 0


async def _languages(url: str, query: str, accept: str | None = None) -> dict[str, Any]:
    headers = {"Accept-Language": accept} if accept else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/languages?api-version=1.0&{query}", headers=headers) as response,
    ):
        assert response.status == 200
        document: dict[str, Any] = await response.json()
        return document


async def _handshake(http: aiohttp.ClientSession, url: str, source: str, target: str) -> int:
    """The HTTP status of the /speech/translate upgrade (101 when the pair is accepted)."""
    query = {"api-version": "1.0", "from": source, "to": target}
    ws_url = url.replace("http://", "ws://") + "/speech/translate"
    try:
        async with http.ws_connect(
            ws_url, params=query, headers={"Ocp-Apim-Subscription-Key": "k"}
        ):
            return 101
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status


async def test_every_pair_languages_advertises_is_accepted_at_the_handshake(
    default_shim: RunningProcess,
) -> None:
    url = default_shim.url
    pairs: set[tuple[str, str]] = set()
    for flight in ("", "&flight=current"):
        document = await _languages(url, "scope=speech,text" + flight)
        assert document["speech"] and document["text"]
        pairs |= {(s, t) for s in document["speech"] for t in document["text"]}
    refused_pair = ("en-US", "de")  # the offline engines have no English→German translator
    assert refused_pair not in pairs
    gate = asyncio.Semaphore(4)
    async with aiohttp.ClientSession() as http:

        async def walk(pair: tuple[str, str]) -> tuple[tuple[str, str], int]:
            async with gate:
                return pair, await _handshake(http, url, *pair)

        results = await asyncio.gather(*(walk(pair) for pair in sorted(pairs)))
        assert [r for r in results if r[1] != 101] == []
        assert await _handshake(http, url, *refused_pair) == 400


async def test_languages_from_catalog_lists_the_whole_catalog_with_cldr_names(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _local_engines()
    log = tmp_path_factory.mktemp("catalog") / "shim.log"
    running = start_process(
        shim_command("serve", "--port", "0", "--languages-from", "catalog"), log, timeout=180
    )
    try:
        document = await _languages(running.url, "scope=speech,text,tts", accept="fr")
    finally:
        assert running.stop() == 0
    assert document["text"]["de"]["name"] == "allemand"
    assert document["speech"]["de-DE"]["name"] == "allemand (Allemagne)"
    assert len(document["speech"]) > 1 and len(document["text"]) > 50
