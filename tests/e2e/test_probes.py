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
