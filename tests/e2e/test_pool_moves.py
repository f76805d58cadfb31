"""Sessions moving mid-session between the resources of a pool (``serve --backends``): local
Speech services that are killed, hang, close 1011 or refuse while sessions run on them, with
the real Speech SDK between the server and the services.

Each service says its name in its finals, so a client's results show where each final came
from; every final must reach the client exactly once, in order, with ids and TimingInfo as
if nothing had happened. Which resources a move reached, failures and states are read from
``/metrics``, ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.metrics_scrape import Samples, scrape, scrape_settled, value
from tests.support.paced_client import Heard, paced_session
from tests.support.paths import read_pcm
from tests.support.pool_services import Service, get_json, no_session_left, serve, start_service
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e

# Five short utterances, 2.5 s apart: a session of 13.5 s has a final every 2.5 s.
FIVE = [
    {
        "offset_ms": 100 + 2500 * i,
        "duration_ms": 1900,
        "text": f"Utterance number {word}.",
        "translations": {"de": f"Äußerung Nummer {word}."},
    }
    for i, word in enumerate(["one", "two", "three", "four", "five"])
]
FIVE_PCM = read_pcm(INSPECT)[: 12_500 * 32]  # any speech carries a timed script
TIMING = {"api-version": "1.0", "from": "en-US", "to": "de", "features": "timinginfo,partial"}


def _script(utterances: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(u["text"], u["offset_ms"] * 10_000, u["duration_ms"] * 10_000) for u in utterances]


def _unmoved(heard: Heard) -> list[tuple[str, int, int]]:
    """The finals as the script says them, whichever resource spoke each."""
    return [
        (f["recognition"].split(": ", 1)[1], f["audioTimeOffset"], f["audioTimeSize"])
        for f in heard.finals
    ]


def _speakers(heard: Heard) -> list[str]:
    return [f["recognition"].split(": ", 1)[0] for f in heard.finals]


def _assert_whole(heard: Heard, utterances: list[dict[str, Any]]) -> None:
    """Every scripted final exactly once, in order, ids and TimingInfo continuous, 1000."""
    assert _unmoved(heard) == _script(utterances)
    assert [f["id"] for f in heard.finals] == [str(n) for n in range(len(utterances))]
    assert heard.close_code == 1000


def _moved(samples: Samples, source: str, target: str) -> float:
    return value(
        samples,
        "session_moves_total",
        from_resource=source,
        to_resource=target,
        when="mid_session",
    )


StartPair = Callable[..., dict[str, Service]]


@pytest.fixture
def start_pair(tmp_path: Path) -> Iterator[StartPair]:
    """Starts two fresh services a and b saying ``utterances``, a with ``faults`` (a test may
    kill either); both are stopped after the test."""
    started: list[Service] = []

    def start(
        utterances: list[dict[str, Any]] = FIVE, faults: list[dict[str, Any]] | None = None
    ) -> dict[str, Service]:
        services = {
            "a": start_service("a", tmp_path, utterances, faults or []),
            "b": start_service("b", tmp_path, utterances),
        }
        started.extend(services.values())
        return services

    yield start
    for service in started:
        if service.running.process.poll() is None:
            assert service.running.stop() == 0


@pytest.fixture
def pair(start_pair: StartPair) -> dict[str, Service]:
    """Two fresh services saying FIVE."""
    return start_pair()


async def _resources(url: str) -> dict[str, Any]:
    _, health = await get_json(url + "/healthz")
    resources: dict[str, Any] = health["resources"]
    return resources


@pytest.mark.slow
async def test_a_resource_killed_8_s_into_5_real_time_sessions_loses_no_final(
    pair: dict[str, Service], tmp_path: Path
) -> None:
    """Issue 18's second "Done" line: kill -9 of the first resource 8 s into five real-time
    sessions; every session completes with every scripted final exactly once, in order, with
    continuous ids and TimingInfo, and closes 1000."""
    running = serve(tmp_path, pair, "--auth", "open")
    try:
        sessions = [
            asyncio.create_task(paced_session(running.url, FIVE_PCM, query=TIMING))
            for _ in range(5)
        ]
        await asyncio.sleep(8)
        pair["a"].kill()
        heard = await asyncio.gather(*sessions)
        for outcome in heard:
            _assert_whole(outcome, FIVE)
        on_a = [h for h in heard if _speakers(h)[0] == "a"]
        assert on_a, "no session ran on a"
        for outcome in on_a:  # a spoke until it died (past the first finals), b from there on
            speakers = _speakers(outcome)
            assert speakers == sorted(speakers) and speakers[-1] == "b"
        samples = await scrape_settled(running.url, {})
        assert _moved(samples, "a", "b") == len(on_a)
        assert value(samples, "resource_failures_total", resource="a", kind="connect") >= 1
        resources = (await no_session_left(running.url))["resources"]
        assert resources["a"]["state"] in ("cooling", "probing")
        assert resources["b"]["state"] == "healthy"
        assert value(samples, "resource_state", resource="b", state="healthy") == 1
    finally:
        assert running.stop() == 0
    assert "(connect mid-session) to b" in running.log()


@pytest.mark.slow
async def test_twenty_sessions_while_a_resource_dies_every_final_once_in_order(
    pair: dict[str, Service], tmp_path: Path
) -> None:
    """Twenty concurrent sessions at twice real time, half on each resource; one dies 3 s in.
    The pool's readiness follows: still ready (b takes sessions), a cooling."""
    running = serve(tmp_path, pair, "--auth", "open")
    try:
        sessions = [
            asyncio.create_task(paced_session(running.url, FIVE_PCM, query=TIMING, speed=2.0))
            for _ in range(20)
        ]
        await asyncio.sleep(3)
        pair["a"].kill()
        heard = await asyncio.gather(*sessions)
        for outcome in heard:
            _assert_whole(outcome, FIVE)
        moved = [h for h in heard if "a" in _speakers(h) and "b" in _speakers(h)]
        assert len(moved) >= 5  # about ten ran on a, each past its first final
        samples = await scrape_settled(running.url, {})
        assert _moved(samples, "a", "b") == len(moved)
        assert (await get_json(running.url + "/readyz"))[0] == 200
        health = await no_session_left(running.url)  # nothing of a moved session kept alive
        assert health["resources"]["a"]["state"] in ("cooling", "probing")
        assert health["resources"]["b"]["state"] == "healthy"
    finally:
        assert running.stop() == 0


async def test_1011_after_the_second_phrase_with_reconnects_refused_moves_the_session(
    start_pair: StartPair, tmp_path: Path
) -> None:
    """The service closes 1011 after the second phrase and refuses the SDK's reconnects (503):
    once the SDK's own retries give up, the session goes on on b after the second final."""
    services = start_pair(THREE["utterances"], [{"after_phrase": 2, "close_code": 1011}])
    closing = services["a"]
    running = serve(tmp_path, services, "--auth", "open")
    try:
        task = asyncio.create_task(  # 4x real time: a's second phrase comes after 3.7 s
            paced_session(running.url, read_pcm(INSPECT), query=TIMING, speed=4.0)
        )
        await closing.connected(1)
        await closing.faults([{"at_upgrade": True, "http_status": 503}])  # reconnects refused
        heard = await task
        _assert_whole(heard, THREE["utterances"])
        assert _speakers(heard) == ["a", "a", "b"]
        samples = await scrape_settled(running.url, {})
        assert _moved(samples, "a", "b") == 1
        assert value(samples, "resource_failures_total", resource="a", kind="unavailable") == 1
        assert (await _resources(running.url))["a"]["failures"] == {"unavailable": 1}
    finally:
        assert running.stop() == 0


async def test_a_resource_that_hangs_mid_session_is_left_when_the_watchdog_sees_it(
    start_pair: StartPair, tmp_path: Path
) -> None:
    services = start_pair(THREE["utterances"], [{"after_phrase": 1, "hang": True}])
    running = serve(tmp_path, services, "--auth", "open", "--backend-timeout", "2")
    try:
        heard = await paced_session(running.url, read_pcm(INSPECT), query=TIMING, speed=None)
        _assert_whole(heard, THREE["utterances"])
        assert _speakers(heard) == ["a", "b", "b"]
        samples = await scrape_settled(running.url, {})
        assert value(samples, "resource_failures_total", resource="a", kind="stalled") == 1
        assert _moved(samples, "a", "b") == 1
        # one stall may be one session's: a stays healthy until three in a row
        assert (await _resources(running.url))["a"]["state"] == "healthy"
    finally:
        assert running.stop() == 0


async def test_a_final_whose_speech_was_in_flight_gets_exactly_one_audio_message_TS1(
    start_pair: StartPair, tmp_path: Path
) -> None:
    """With TextToSpeech: a is killed while the second final's speech is still arriving (its
    service sends every message 0.8 s late after the first phrase). The client gets that
    final's speech once, spoken again on b, then b's finals and their speech."""
    services = start_pair(FIVE, [{"after_phrase": 1, "delay_ms": 800}])
    slow = services["a"]
    running = serve(tmp_path, services, "--auth", "open")

    def kill_after_the_second(final: dict[str, Any]) -> None:
        if final["id"] == "1":
            slow.kill()

    query = {"api-version": "1.0", "from": "en-US", "to": "de", "features": "texttospeech"}
    try:
        heard = await paced_session(
            running.url, FIVE_PCM, query=query, speed=None, on_final=kill_after_the_second
        )
        assert heard.kinds == ["final", "audio"] * 5
        assert _speakers(heard) == ["a", "a", "b", "b", "b"]
        assert [f["id"] for f in heard.finals] == ["0", "1", "2", "3", "4"]
        assert heard.close_code == 1000
        samples = await scrape_settled(running.url, {})
        assert _moved(samples, "a", "b") == 1
    finally:
        assert running.stop() == 0
    assert "final 1's speech spoken again on Speech resource b" in running.log()


async def test_when_every_resource_fails_mid_session_it_ends_1001_never_1000(
    pair: dict[str, Service], tmp_path: Path
) -> None:
    """Issue 18's third "Done" line: a dies after the first final and b refuses (503): the
    session ends with the finals it had, 1001 with a reason, never 1000."""
    running = serve(tmp_path, pair, "--auth", "open")  # the session lands on a (listed first)
    failed = asyncio.Event()

    def fail_both(final: dict[str, Any]) -> None:
        if final["id"] == "0" and not failed.is_set():
            failed.set()
            pair["a"].kill()

    try:
        await pair["b"].faults([{"at_upgrade": True, "http_status": 503}])
        heard = await paced_session(
            running.url, FIVE_PCM, query=TIMING, speed=4.0, on_final=fail_both
        )
        assert (heard.close_code, heard.close_reason) == (
            1001,
            "Speech backend temporarily unavailable; retry later",
        )
        assert _unmoved(heard) == _script(FIVE)[: len(heard.finals)]  # no final twice
        samples = await scrape_settled(running.url, {})
        assert value(samples, "sessions_total", outcome="backend_unavailable", close_code="1001")
        resources = await _resources(running.url)
        assert resources["a"]["failures"] == {"connect": 1}
        assert resources["b"]["failures"] == {"unavailable": 1}
        assert {r["state"] for r in resources.values()} <= {"cooling", "probing"}
        assert await get_json(running.url + "/readyz") == (
            503,
            {"status": "not ready", "reasons": ["backend unreachable"]},
        )
    finally:
        assert running.stop() == 0
    assert "no Speech resource left to move to from b (unavailable mid-session)" in running.log()


async def test_readiness_comes_back_with_a_resource_without_any_session_between(
    pair: dict[str, Service], tmp_path: Path
) -> None:
    """Both refuse: one session finds it out, ``/readyz`` is 503 with a reason. a comes back:
    its probe (a connection, no audio) finds it, and ``/readyz`` is 200 again with no client
    session in between; b's probes go on failing, with longer cooldowns."""
    cooldown = "cooldown: {first_seconds: 0.5, longest_seconds: 1}\n"
    running = serve(tmp_path, pair, "--auth", "open", pools=cooldown)
    try:
        for service in pair.values():
            await service.faults([{"at_upgrade": True, "http_status": 503}])
        heard = await paced_session(running.url, FIVE_PCM[:32_000], speed=None)
        assert heard.close_code == 1001
        assert await get_json(running.url + "/readyz") == (
            503,
            {"status": "not ready", "reasons": ["backend unreachable"]},
        )
        await pair["a"].faults([])
        for _ in range(200):  # a probe at most every second
            status, _ = await get_json(running.url + "/readyz")
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert status == 200
        _, health = await get_json(running.url + "/healthz")
        assert health["sessions_started"] == 1  # nobody came to find out
        assert health["resources"]["a"]["state"] == "healthy"
        assert health["resources"]["b"]["state"] in ("cooling", "probing")
        samples = await scrape(running.url)
        assert value(samples, "resource_probes_total", resource="a", outcome="passed") == 1
        assert value(samples, "resource_state", resource="a", state="healthy") == 1
        for _ in range(100):  # b: a failed probe within its cooldowns of at most a second
            samples = await scrape(running.url)
            if value(samples, "resource_probes_total", resource="b", outcome="failed"):
                break
            await asyncio.sleep(0.05)
        assert value(samples, "resource_probes_total", resource="b", outcome="failed") >= 1
        _, health = await get_json(running.url + "/healthz")
        assert health["resources"]["b"]["probe_failures"] >= 1
        assert health["resources"]["b"]["failures"] == {"unavailable": 1}  # sessions only
    finally:
        assert running.stop() == 0


async def test_a_shadow_may_name_a_resource_of_the_pool(
    pair: dict[str, Service], tmp_path: Path
) -> None:
    """``--shadow-backend b``: sessions of the pool ``[a]`` are shadowed on the resource b,
    reached with b's own settings; the comparison sees b's words."""
    running = serve(
        tmp_path,
        pair,
        "--auth",
        "open",
        "--shadow-backend",
        "b",
        pools="pools:\n  default: [a]\n",
    )
    try:
        heard = await paced_session(running.url, FIVE_PCM, query=TIMING, speed=None)
        assert set(_speakers(heard)) == {"a"}
        for _ in range(200):
            _, report = await get_json(running.url + "/shadow.json")
            if report["sessions"]:
                break
            await asyncio.sleep(0.1)
        (session,) = report["sessions"]
        assert report["b"] == "the shadow backend b"
        assert session["finals"] == {"a": 5, "b": 5}
        assert session["wer"]["recognition"] > 0  # "a: …" against "b: …"
        samples = await scrape(running.url)
        assert value(samples, "shadow_sessions_total", result="compared") == 1
    finally:
        assert running.stop() == 0
