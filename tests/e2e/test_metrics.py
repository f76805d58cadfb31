"""/metrics: Prometheus text that parses, and counters that move as real sessions run."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.support.legacy_ws import header46, run_messages
from tests.support.metrics_scrape import scrape, scrape_settled, value
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, Shim, shim_args, start_process
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e


async def test_counters_move_as_a_scripted_session_runs(shim: Shim) -> None:
    before = await scrape(shim.url)
    key = shim.emulator.scenario(THREE)
    outcome = await run_messages(
        shim.url,
        key,
        [header46() + read_pcm(INSPECT), bytes(32_000)],
        query={
            "api-version": "1.0",
            "from": "en-US",
            "to": "de",
            "features": "partial,texttospeech",
        },
        close_after_send=True,
    )
    assert outcome.close_code == 1000 and len(outcome.finals) == 3
    after = await scrape_settled(shim.url, before)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("sessions_total", outcome="completed", close_code="1000") == 1
    assert moved("results_sent_total", kind="final") == 3
    assert moved("results_sent_total", kind="partial") >= 1
    assert moved("tts_messages_sent_total", format="wav") == 3
    assert moved("tts_bytes_sent_total", format="wav") == sum(len(b) for b in outcome.binaries)
    seconds = (len(read_pcm(INSPECT)) + 32_000) / 32_000
    assert moved("audio_received_seconds_total") == pytest.approx(seconds, abs=0.01)
    assert moved("final_latency_seconds_count") == 3
    assert moved("backend_latency_seconds_count") == 3
    assert moved("backend_connections_total") >= 1
    assert value(after, "sessions_open") == 0
    assert (
        value(
            after,
            "build_info",
            version=_version("translator-speech-shim"),
            speech_sdk=_version("azure-cognitiveservices-speech"),
            python=_python(),
        )
        == 1
    )


async def test_rejections_cancellations_and_close_codes_are_counted(shim: Shim) -> None:
    before = await scrape(shim.url)
    async with (
        aiohttp.ClientSession() as http,
        http.get(shim.url + "/speech/translate?api-version=1.0&from=en-US") as response,
    ):
        assert response.status in (400, 401)
    key = shim.emulator.scenario({**THREE, "faults": [{"at_turn_start": True, "close_code": 4429}]})
    outcome = await run_messages(shim.url, key, [header46() + read_pcm(INSPECT)[:64_000]])
    assert outcome.close_code == 1001
    after = await scrape_settled(shim.url, before)
    rejected = sum(
        value(after, "handshake_rejections_total", status=s)
        - value(before, "handshake_rejections_total", status=s)
        for s in ("400", "401")
    )
    assert rejected == 1
    throttled = ("sessions_total", {"outcome": "backend_throttled", "close_code": "1001"})
    assert (
        value(after, throttled[0], **throttled[1]) - value(before, throttled[0], **throttled[1])
        == 1
    )
    assert (
        value(after, "backend_cancellations_total", code="TooManyRequests")
        - value(before, "backend_cancellations_total", code="TooManyRequests")
        == 1
    )


def _version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)


def _python() -> str:
    import platform

    return platform.python_version()


async def test_the_local_speech_service_has_its_own_metrics(
    emulator: Emulator, tmp_path: Path
) -> None:
    key = emulator.scenario(
        {**THREE, "faults": [{"after_phrase": 1, "close_code": 1011, "once": True}]}
    )
    running = start_process(shim_args(emulator), tmp_path / "shim.log")
    try:
        before = await scrape(emulator.url.replace("ws://", "http://"))
        outcome = await run_messages(
            running.url, key, [header46() + read_pcm(INSPECT), bytes(32_000)], close_after_send=True
        )
        assert len(outcome.finals) == 3
        after = await scrape(emulator.url.replace("ws://", "http://"))
    finally:
        assert running.stop() == 0
    S = "local_speech_service_"

    def moved(name: str, **labels: str) -> float:
        key_ = (S + name, tuple(sorted(labels.items())))
        return after.get(key_, 0.0) - before.get(key_, 0.0)

    assert moved("connections_total", endpoint="translation") == 2  # the 1011 made it reconnect
    assert moved("turns_total") >= 2
    assert moved("phrases_total", status="Success") == 3
    assert moved("faults_injected_total", fault="close_code") == 1
