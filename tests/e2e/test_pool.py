"""A pool of Speech resources (``serve --backends``): two local Speech services, each saying
its own words, and their faults switched on and off while they run (``/emulator/faults``).

Which resource ran a session is read from its finals; moves, failures and states from the
server's ``/metrics``, ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.legacy_ws import Outcome, header46, run_messages
from tests.support.metrics_scrape import Samples, scrape, scrape_settled, value
from tests.support.paths import read_pcm
from tests.support.pool_services import (
    Service,
    get_json,
    no_session_left,
    pool_file,
    serve,
    start_service,
)
from tests.support.processes import shim_command, start_process
from tests.support.scenarios import INSPECT, THREE
from tests.support.worker_sessions import handshake_status, session

pytestmark = pytest.mark.e2e

THROTTLE = [{"at_upgrade": True, "http_status": 429}]
TEXTS = [u["text"] for u in THREE["utterances"]]


def said_by(name: str) -> list[str]:
    return [f"{name}: {text}" for text in TEXTS]


def _start_service(name: str, directory: Path) -> Service:
    return start_service(name, directory, THREE["utterances"])


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    base = tmp_path_factory.mktemp("pool")
    started = {name: _start_service(name, base) for name in ("a", "b")}
    yield started
    for service in started.values():
        assert service.running.stop() == 0


@pytest.fixture
async def healthy(services: dict[str, Service]) -> dict[str, Service]:
    for service in services.values():
        await service.faults([])
        await service.connected(0)  # the last test's server is gone: its connections too
    return services


async def _session(url: str, key: str = "client") -> Outcome:
    return await run_messages(
        url, key, [header46() + read_pcm(INSPECT), bytes(32_000)], close_after_send=True
    )


def _recognitions(outcome: Outcome) -> list[str]:
    return [f["recognition"] for f in outcome.finals]


def _moves(samples: Samples, source: str, target: str) -> float:
    return value(
        samples, "session_moves_total", from_resource=source, to_resource=target, when="start"
    )


async def test_twenty_sessions_all_complete_on_the_second_when_the_first_refuses_with_429(
    healthy: dict[str, Service], tmp_path: Path
) -> None:
    """Issue 18's first "Done" line, with the real Speech SDK between server and services."""
    await healthy["a"].faults(THROTTLE)
    running = serve(tmp_path, healthy, "--auth", "open")
    try:
        outcomes = await asyncio.gather(*(_session(running.url) for _ in range(20)))
        for outcome in outcomes:
            assert _recognitions(outcome) == said_by("b")
            assert [f["id"] for f in outcome.finals] == ["0", "1", "2"]
            assert outcome.close_code == 1000
        samples = await scrape(running.url)
        assert _moves(samples, "a", "b") >= 1
        assert value(samples, "resource_failures_total", resource="a", kind="throttled") >= 1
        assert value(samples, "resource_cooldowns_total", resource="a") >= 1
        assert value(samples, "resource_state", resource="b", state="healthy") == 1
        _, health = await get_json(running.url + "/healthz")
        assert health["backend"] == "pool"
        assert health["resources"]["a"]["state"] in ("cooling", "probing")
        assert health["resources"]["a"]["failures"]["throttled"] >= 1
        assert health["resources"]["b"]["state"] == "healthy"
        assert (await get_json(running.url + "/readyz"))[0] == 200
        # a comes back: once its cooldown is over its probe (a connection, no session) finds
        # it so, and the next session goes there
        await healthy["a"].faults([])
        for _ in range(600):  # the cooldown lasts seconds (1 s, doubled by failed probes)
            _, health = await get_json(running.url + "/healthz")
            if health["resources"]["a"]["state"] == "healthy":
                break
            await asyncio.sleep(0.05)
        assert health["resources"]["a"]["state"] == "healthy"
        samples = await scrape(running.url)
        assert value(samples, "resource_probes_total", resource="a", outcome="passed") == 1
        outcome = await _session(running.url)
        assert (_recognitions(outcome), outcome.close_code) == (said_by("a"), 1000)
        health = await no_session_left(running.url)
        assert health["resources"]["a"]["state"] == "healthy"
    finally:
        assert running.stop() == 0
    assert "moved from Speech resource a (throttled before its first result) to b" in (
        running.log()
    )


async def test_with_every_resource_refusing_a_session_ends_1001_and_readiness_follows_the_pool(
    healthy: dict[str, Service], tmp_path: Path
) -> None:
    """Both refuse: the session ends 1001, ``/readyz`` says 503 and handshakes are refused.
    Then a session that started on ``a`` before the outage gets its first result: ``a`` is
    healthy at once (no waiting for its cooldown), and ``/readyz`` with it."""
    cooldown = "cooldown: {first_seconds: 600}\n"  # nothing here waits for a cooldown to end
    running = serve(tmp_path, healthy, "--auth", "open", pools=cooldown)
    pcm = read_pcm(INSPECT)
    try:
        async with aiohttp.ClientSession() as http:
            early = await http.ws_connect(
                running.url + "/speech/translate",
                params={"api-version": "1.0", "from": "en-US", "to": "de"},
                headers={"Ocp-Apim-Subscription-Key": "client"},
                autoclose=False,
            )
            await early.send_bytes(header46() + pcm[:1600])  # 50 ms: before any word, no result
            await healthy["a"].connected(1)  # its SDK connection is open before a refuses
            await healthy["a"].faults(THROTTLE)
            await healthy["b"].faults(THROTTLE)
            outcome = await _session(running.url)  # on b (a has a session), then a: both refuse
            assert (outcome.close_code, outcome.finals) == (1001, [])
            assert await get_json(running.url + "/readyz") == (
                503,
                {"status": "not ready", "reasons": ["backend unreachable"]},
            )
            status, _ = await handshake_status(running.url, {"Ocp-Apim-Subscription-Key": "k"})
            assert status == 503  # refused before the upgrade: nothing can take a session
            await healthy["a"].faults([])  # a is back; the pool learns it from a's session
            await early.send_bytes(pcm[1600:] + bytes(32_000))
            first = await early.receive(timeout=60)
            assert json.loads(first.data)["recognition"].startswith("a: ")
            assert (await get_json(running.url + "/readyz"))[0] == 200
            await early.close()
        outcome = await _session(running.url)
        assert (_recognitions(outcome), outcome.close_code) == (said_by("a"), 1000)
        _, health = await get_json(running.url + "/healthz")
        assert (health["resources"]["a"]["state"], health["resources"]["b"]["state"]) == (
            "healthy",
            "cooling",
        )
        samples = await scrape_settled(running.url, {})  # every session ended and counted
        assert value(samples, "resource_state", resource="a", state="healthy") == 1
        assert value(samples, "resource_state", resource="b", state="cooling") == 1
        assert value(samples, "sessions_total", outcome="backend_throttled", close_code="1001") == 1
    finally:
        assert running.stop() == 0
    log = running.log()
    assert 'close_reason="Speech backend is throttling requests; retry later"' in log
    assert "no Speech resource left to move to from a (throttled before its first result)" in log


@pytest.mark.parametrize("lost", [2, 3], ids=["a-middle-one", "the-last"])
async def test_a_resource_that_loses_a_final_hands_the_session_to_another(
    healthy: dict[str, Service], tmp_path: Path, lost: int
) -> None:
    """``a`` sends only the hypotheses of one phrase, then goes on to the next (or its SDK
    reports the end as if all were done): the session moves to ``b`` from the end of the
    final before it and gets the rest there, once each, then 1000."""
    await healthy["a"].faults([{"on_phrase": lost, "lose": True}])
    running = serve(tmp_path, healthy, "--auth", "open")
    try:
        outcome = await _session(running.url)  # on a: the pool's ties go to its file order
        assert (_recognitions(outcome), outcome.close_code) == (
            said_by("a")[: lost - 1] + said_by("b")[lost - 1 :],
            1000,
        )
        assert [f["id"] for f in outcome.finals] == ["0", "1", "2"]
    finally:
        assert running.stop() == 0
    assert "moved from Speech resource a (error mid-session) to b" in running.log()


async def test_a_resource_that_hangs_before_its_first_result_loses_the_session_to_another(
    healthy: dict[str, Service], tmp_path: Path
) -> None:
    await healthy["a"].faults([{"at_turn_start": True, "hang": True}])
    running = serve(tmp_path, healthy, "--auth", "open", "--backend-timeout", "2")
    try:
        outcome = await _session(running.url)
        assert (_recognitions(outcome), outcome.close_code) == (said_by("b"), 1000)
        samples = await scrape(running.url)
        assert value(samples, "resource_failures_total", resource="a", kind="stalled") == 1
        assert _moves(samples, "a", "b") == 1
    finally:
        assert running.stop() == 0


async def test_a_resource_whose_service_was_killed_loses_its_sessions_at_start(
    healthy: dict[str, Service], tmp_path: Path
) -> None:
    killed = _start_service("c", tmp_path)
    running = serve(tmp_path, {"c": killed, "b": healthy["b"]}, "--auth", "open")
    try:
        killed.running.process.kill()  # kill -9: no close frame, the port refuses from now on
        killed.running.process.wait()
        outcomes = await asyncio.gather(*(_session(running.url) for _ in range(3)))
        for outcome in outcomes:
            assert (_recognitions(outcome), outcome.close_code) == (said_by("b"), 1000)
        samples = await scrape(running.url)
        assert value(samples, "resource_failures_total", resource="c", kind="connect") >= 1
        assert _moves(samples, "c", "b") >= 1
    finally:
        assert running.stop() == 0


async def test_a_resource_throttling_mid_session_hands_the_session_over_without_a_gap(
    healthy: dict[str, Service], tmp_path: Path
) -> None:
    """4429 after the first phrase (the SDK does not retry it): the second resource goes on
    after the first final; ids and TimingInfo run on as if nothing happened."""
    await healthy["a"].faults([{"after_phrase": 1, "close_code": 4429}])
    running = serve(tmp_path, healthy, "--auth", "open")
    try:
        outcome = await run_messages(
            running.url,
            "client",
            [header46() + read_pcm(INSPECT), bytes(32_000)],
            query={"api-version": "1.0", "from": "en-US", "to": "de", "features": "timinginfo"},
            close_after_send=True,
        )
        assert (_recognitions(outcome), outcome.close_code) == (
            [*said_by("a")[:1], *said_by("b")[1:]],
            1000,
        )
        assert [f["id"] for f in outcome.finals] == ["0", "1", "2"]
        assert [(f["audioTimeOffset"], f["audioTimeSize"]) for f in outcome.finals] == [
            (u["offset_ms"] * 10_000, u["duration_ms"] * 10_000) for u in THREE["utterances"]
        ]
        samples = await scrape_settled(running.url, {})
        assert value(samples, "resource_failures_total", resource="a", kind="throttled") == 1
        assert value(samples, "resource_cooldowns_total", resource="a") == 1
        assert _moves(samples, "a", "b") == 0
        assert (
            value(
                samples,
                "session_moves_total",
                from_resource="a",
                to_resource="b",
                when="mid_session",
            )
            == 1
        )
    finally:
        assert running.stop() == 0
    assert "moved from Speech resource a (throttled mid-session) to b" in running.log()


async def test_keys_mode_maps_client_keys_to_pools_and_resources(
    healthy: dict[str, Service], tmp_path: Path
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("plain-client\nbee-client=pool:bees\nalpha-client=pool:a\n")
    pools = "pools:\n  default: [a]\n  bees: [b]\n"
    running = serve(tmp_path, healthy, "--auth", "keys", "--client-keys", str(keys), pools=pools)
    try:
        for key, resource in (("plain-client", "a"), ("bee-client", "b"), ("alpha-client", "a")):
            outcome = await _session(running.url, key)
            assert (_recognitions(outcome), outcome.close_code) == (said_by(resource), 1000), key
    finally:
        assert running.stop() == 0


async def test_a_key_mapped_to_a_pool_the_file_lacks_stops_the_server_at_start(
    healthy: dict[str, Service], tmp_path: Path
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("kiosk-0d1e=pool:nowhere\n")
    pool = pool_file(tmp_path / "backends.yaml", healthy)
    with pytest.raises(RuntimeError, match="pool 'nowhere', which --backends"):
        start_process(
            shim_command(
                "serve",
                "--port",
                "0",
                "--backends",
                str(pool),
                "--auth",
                "keys",
                "--client-keys",
                str(keys),
            ),
            tmp_path / "shim.log",
        )


@pytest.mark.slow
async def test_max_sessions_holds_across_the_workers_of_a_replica(
    healthy: dict[str, Service], tmp_path: Path
) -> None:
    running = serve(tmp_path, healthy, "--auth", "open", "--workers", "2", a=1, b=1)
    hold = asyncio.Event()
    try:
        headers = {"Ocp-Apim-Subscription-Key": "client"}
        held = []
        for _ in range(2):  # one on each resource, on whichever workers
            connected: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            held.append(
                asyncio.create_task(session(running.url, headers, hold=hold, connected=connected))
            )
            await connected
        refused_by: set[str] = set()
        for _ in range(40):
            status, worker = await handshake_status(running.url, headers)
            assert status == 429, f"worker {worker} let a third session in"
            refused_by.add(worker)
            if len(refused_by) == 2:
                break
        assert refused_by == {"0", "1"}
        _, health = await get_json(running.url + "/healthz")  # counts of the whole replica
        assert {n: r["sessions"] for n, r in health["resources"].items()} == {"a": 1, "b": 1}
        hold.set()
        assert [r.close_code for r in await asyncio.gather(*held)] == [1000, 1000]
        for _ in range(100):  # a resource is free once its SDK session is torn down
            status, _ = await handshake_status(running.url, headers)
            if status == 101:
                break
            await asyncio.sleep(0.1)
        assert status == 101
    finally:
        hold.set()
        assert running.stop() == 0
