"""A pool's probe of a Speech resource (``shim/speech/probe.py``) with the real Speech SDK
against a local Speech service: it passes on a connection and starts nothing billable, and a
refusal says its kind; a service that never answers the upgrade is not connected within the
probe's timeout."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from shim.pool.trouble import Trouble, probe_trouble
from shim.speech.bridge import Backend
from shim.speech.probe import ProbeResult, probe
from shim.speech.runtime import SpeechRuntime
from tests.support.metrics_scrape import scrape
from tests.support.pool_services import Service, start_service

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    started = start_service("p", tmp_path_factory.mktemp("probe"), [])
    yield started
    assert started.running.stop() == 0


@pytest.fixture
async def runtime() -> AsyncIterator[SpeechRuntime]:
    speech = SpeechRuntime()
    yield speech
    await speech.close()


async def test_a_probe_passes_on_a_connection_and_starts_no_turn(
    service: Service, runtime: SpeechRuntime
) -> None:
    await service.faults([])
    assert await probe(Backend("key", host=service.url), runtime) == ProbeResult(True, None)
    samples = await scrape(service.http_url)
    audio = "local_speech_service_audio_received_seconds_total"
    heard = sum(v for (name, _), v in samples.items() if name == audio)
    turns = samples[("local_speech_service_turns_total", ())]
    assert (turns, heard) == (0, 0)  # nothing recognised: nothing billed


@pytest.mark.parametrize(
    ("status", "code", "trouble"),
    [
        (429, "TooManyRequests", Trouble.THROTTLED),
        (503, "ServiceUnavailable", Trouble.UNAVAILABLE),
        (401, "AuthenticationFailure", Trouble.AUTH),
    ],
)
async def test_a_refused_probe_says_what_kind_of_trouble_it_met(
    service: Service, runtime: SpeechRuntime, status: int, code: str, trouble: Trouble
) -> None:
    await service.faults([{"at_upgrade": True, "http_status": status}])
    result = await probe(Backend("key", host=service.url), runtime)
    assert result == ProbeResult(False, code)
    assert probe_trouble(result.code) is trouble


async def test_a_service_that_never_answers_the_upgrade_fails_the_probe_as_a_stall(
    runtime: SpeechRuntime,
) -> None:
    with socket.socket() as silent:  # the kernel completes TCP handshakes; nobody answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"ws://127.0.0.1:{silent.getsockname()[1]}"
        result = await probe(Backend("key", host=host), runtime, timeout=1.0)
    assert result == ProbeResult(False, None)
    assert probe_trouble(result.code) is Trouble.STALLED
