"""serve --record-backend: a session against a backend, written as a replayable scenario."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import pytest

from shim.emulator.scenario import load_scenario
from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, shim_args, shim_command, start_process
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e

QUERY = {"api-version": "1.0", "from": "en-US", "to": "de", "features": "texttospeech,timinginfo"}


async def test_recorded_backend_scenario_reproduces_the_session(
    emulator: Emulator, tmp_path: Path
) -> None:
    recordings = tmp_path / "recorded"
    recorder = start_process(
        shim_args(emulator, "--record-backend", str(recordings)), tmp_path / "shim.log"
    )
    messages = [header46() + read_pcm(INSPECT), bytes(32_000)]
    try:
        original = await run_messages(
            recorder.url, emulator.scenario(THREE), messages, query=QUERY, close_after_send=True
        )
    finally:
        assert recorder.stop() == 0
    (scenario_path,) = recordings.glob("*.json")
    assert scenario_path.stem == original.request_id
    scenario = load_scenario(scenario_path)  # valid against the scenario contract
    assert [u.text for u in scenario.utterances] == [u["text"] for u in THREE["utterances"]]
    assert all(Path(u.audio["de"]).is_file() for u in scenario.utterances)

    # Replay: a fresh local service that knows nothing but the recording.
    replay_service = start_process(
        shim_command("emulator", "--scenario", str(scenario_path)), tmp_path / "replay-emulator.log"
    )
    replay_shim = start_process(
        shim_command("serve", "--port", "0", "--speech-host", replay_service.url, "--auth", "open"),
        tmp_path / "replay-shim.log",
    )
    try:
        replayed = await run_messages(
            replay_shim.url, "any", messages, query=QUERY, close_after_send=True
        )
    finally:
        assert replay_shim.stop() == 0
        assert replay_service.stop() == 0
    assert replayed.finals == original.finals  # texts, translations and timing, field for field
    assert len(replayed.binaries) == len(original.binaries) == 3
    for mine, theirs in zip(replayed.binaries, original.binaries, strict=True):
        with wave.open(io.BytesIO(mine)) as a, wave.open(io.BytesIO(theirs)) as b:
            assert a.getnframes() == b.getnframes()
    assert json.loads(scenario_path.read_text())["description"].startswith("recorded")
