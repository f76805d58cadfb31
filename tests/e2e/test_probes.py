"""``/livez``, ``/readyz`` and ``/healthz`` of the drop-in server."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shim.server import health
from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, Shim, shim_args, start_process
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e


async def _get(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def test_a_serving_process_is_alive_and_ready(shim: Shim) -> None:
    assert await _get(f"{shim.url}/livez") == (200, {"status": "alive"})
    assert await _get(f"{shim.url}/readyz") == (200, {"status": "ready"})
    status, body = await _get(f"{shim.url}/healthz")
    assert status == 200 and body["status"] == "ok" and body["backend"] == "host"


async def test_readyz_turns_503_on_sigterm_while_open_sessions_finish(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = start_process(shim_args(emulator, "--drain-timeout", "5"), tmp_path / "shim.log")
    try:
        session = asyncio.create_task(
            run_messages(running.url, emulator.scenario(THREE), [header46() + read_pcm(INSPECT)])
        )
        for _ in range(100):  # the session is open once /healthz counts it
            if (await _get(f"{running.url}/healthz"))[1]["sessions"] == 1:
                break
            await asyncio.sleep(0.1)
        running.process.send_signal(signal.SIGTERM)
        for _ in range(100):
            status, body = await _get(f"{running.url}/readyz")
            if status == 503:
                break
            await asyncio.sleep(0.1)
        assert (status, body) == (503, {"status": "not ready", "reasons": ["draining"]})
        assert not session.done(), "the session closed before /readyz said draining"
        assert await _get(f"{running.url}/livez") == (200, {"status": "alive"})
        assert (await _get(f"{running.url}/healthz"))[1]["status"] == "draining"
        outcome = await session  # closed 1001 when the drain timeout ends (before idle, 20 s)
        assert outcome.close_code == 1001
    finally:
        exit_code = running.stop()
    assert exit_code == 0


@pytest.mark.parametrize(
    ("facts", "reasons"),
    [
        ({"backend_unreachable": True}, ["backend unreachable"]),
        ({"at_connection_cap": True}, ["at connection cap"]),
        ({"draining": True, "at_connection_cap": True}, ["draining", "at connection cap"]),
    ],
)
async def test_readyz_names_every_reason_it_is_not_ready(
    facts: dict[str, bool], reasons: list[str]
) -> None:
    app = web.Application()
    readiness = health.Readiness()
    health.add_routes(app, readiness, lambda: {"status": "ok"})
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/readyz")).status == 200
        for name, value in facts.items():
            setattr(readiness, name, lambda value=value: value)
        response = await client.get("/readyz")
        assert response.status == 503
        assert await response.json() == {"status": "not ready", "reasons": reasons}
        assert (await client.get("/livez")).status == 200


async def _held_session(url: str, key: str, opened: asyncio.Event, release: asyncio.Event) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            url + "/speech/translate",
            params={"api-version": "1.0", "from": "en-US", "to": "de"},
            headers={"Ocp-Apim-Subscription-Key": key},
        ) as ws,
    ):
        await ws.send_bytes(header46())
        opened.set()
        await release.wait()


async def test_at_the_connection_cap_probes_are_answered_and_name_the_cap(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = start_process(shim_args(emulator, "--max-connections", "2"), tmp_path / "shim.log")
    key = emulator.scenario(THREE)
    release = asyncio.Event()
    held = []
    try:
        assert await _get(f"{running.url}/readyz") == (200, {"status": "ready"})
        for _ in range(2):
            opened = asyncio.Event()
            held.append(asyncio.create_task(_held_session(running.url, key, opened, release)))
            await asyncio.wait_for(opened.wait(), 10)
        # The cap counts legacy connections: the probe's own does not count, and it is served.
        status, body = await _get(f"{running.url}/readyz")
        assert (status, body) == (503, {"status": "not ready", "reasons": ["at connection cap"]})
        assert (await _get(f"{running.url}/livez"))[0] == 200
        query = "api-version=1.0&from=en-US&to=de"
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{running.url}/speech/translate?{query}",
                headers={"Ocp-Apim-Subscription-Key": key, "Upgrade": "websocket",
                         "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
            ) as refused,
        ):  # fmt: skip
            assert refused.status == 503 and refused.headers["Retry-After"] == "1"
            assert "too many connections" in (await refused.json())["error"]["message"]
    finally:
        release.set()
        await asyncio.gather(*held, return_exceptions=True)
        assert running.stop() == 0


async def test_connections_refused_beyond_every_cap_get_the_503_and_a_clean_close(
    emulator: Emulator, tmp_path: Path
) -> None:
    from shim.server.edge import OTHER_CONNECTIONS

    running = start_process(shim_args(emulator, "--max-connections", "1"), tmp_path / "shim.log")
    host, port = running.url.split("//")[1].split(":")
    idle = [await asyncio.open_connection(host, int(port)) for _ in range(1 + OTHER_CONNECTIONS)]
    try:
        request = f"GET /readyz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        for _ in range(20):  # the reset came in about half the refusals
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(request)
            answer = await asyncio.wait_for(reader.read(), 10)  # to EOF; a reset raises
            assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer
            writer.close()
    finally:
        for _, writer in idle:
            writer.close()
        assert running.stop() == 0
