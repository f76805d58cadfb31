"""A legacy client's long silence, against a backend that handles silence as Azure does.

The local Speech service ends a turn after each 15 s of silence while it waits for speech
(20 s after speech), and the Speech SDK starts its next turn only when it is given more audio
(docs/local-speech-service.md, "Fidelity"). A legacy client that streams three minutes of
silence then speaks gets what the legacy rules say: no final for silence, and with the
default 120 s silence limit a 1000 close for long silence (ER2) before its speech; with a
longer limit, the speech's final at its true time (RS7) and 1000 after the client's close
(ER1). The client sends one second per message as fast as it can: the read-ahead, the
watchdog and the flush all see every turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, RunningProcess, Shim, shim_args, start_process

pytestmark = pytest.mark.e2e

WEATHER_TEXT = "What's the weather like?"
SCENARIO = {"utterances": [{"text": WEATHER_TEXT, "translations": {"de": "Wie ist das Wetter?"}}]}
QUERY = {"api-version": "1.0", "from": "en-US", "to": "de", "features": "partial,timinginfo"}
ONE_SECOND = bytes(32_000)
TICKS = 10_000_000


def _three_minutes_of_silence_then_speech() -> list[bytes]:
    weather = read_pcm("en-US_whatstheweatherlike.wav")
    return [header46(), *[ONE_SECOND] * 180, weather, ONE_SECOND]


async def test_three_minutes_of_silence_then_speech_closes_1000_for_long_silence_ER2(
    shim: Shim,
) -> None:
    outcome = await run_messages(
        shim.url,
        shim.emulator.scenario(SCENARIO),
        _three_minutes_of_silence_then_speech(),
        query=QUERY,
    )
    assert outcome.texts == []  # silence is no false recognition: no final, no partial
    assert (outcome.close_code, outcome.close_reason) == (1000, "long silence: no speech heard")


@pytest.fixture(scope="module")
def patient_shim(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shim]:
    """The drop-in server with a silence limit longer than the client's silence."""
    log: Path = tmp_path_factory.mktemp("patient") / "shim.log"
    running: RunningProcess = start_process(shim_args(emulator, "--silence-timeout", "240"), log)
    yield Shim(running, emulator)
    assert running.stop() == 0


async def test_speech_after_three_minutes_of_silence_is_final_at_its_time_then_1000_ER1(
    patient_shim: Shim,
) -> None:
    outcome = await run_messages(
        patient_shim.url,
        patient_shim.emulator.scenario(SCENARIO),
        _three_minutes_of_silence_then_speech(),
        query=QUERY,
        close_after_send=True,
    )
    (final,) = outcome.finals
    assert (final["recognition"], final["translation"]) == (WEATHER_TEXT, "Wie ist das Wetter?")
    assert 180 * TICKS <= final["audioTimeOffset"] < 181 * TICKS  # where the question is
    partials = [t for t in outcome.texts if t["type"] == "partial"]
    assert partials and all(p["id"].startswith("0.") for p in partials)
    assert outcome.close_code == 1000


async def test_the_local_engines_handle_three_minutes_of_silence_the_same_way_ER2(
    local_shim: RunningProcess,
) -> None:
    outcome = await run_messages(
        local_shim.url,
        "k",
        _three_minutes_of_silence_then_speech(),
        query={**QUERY, "to": "es"},
    )
    assert outcome.texts == []
    assert (outcome.close_code, outcome.close_reason) == (1000, "long silence: no speech heard")
