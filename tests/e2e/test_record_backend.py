"""serve --record-backend: sessions against a backend, written as a replayable scenario.

Each session is one *recording*, known by its audio's fingerprint; a directory of them is a
scenario per audio: one local service replays every recorded session, each audio answered as
it was, on one key (issue 17, scenario per audio).
"""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import pytest

from shim.emulator.engines.scenario import load_scenario
from tests.support.legacy_ws import Outcome, header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, shim_args, shim_command, start_process
from tests.support.scenarios import INSPECT, THREE, WEATHER

pytestmark = pytest.mark.e2e

QUERY = {"api-version": "1.0", "from": "en-US", "to": "de", "features": "texttospeech,timinginfo"}
WEATHER_WAV = "en-US_whatstheweatherlike.wav"


def _messages(name: str) -> list[bytes]:
    return [header46() + read_pcm(name), bytes(32_000)]


async def test_recorded_sessions_replay_from_one_directory_each_by_its_audio(
    emulator: Emulator, tmp_path: Path
) -> None:
    recordings = tmp_path / "recorded"
    recorder = start_process(
        shim_args(emulator, "--record-backend", str(recordings)), tmp_path / "shim.log"
    )
    originals: dict[str, Outcome] = {}
    try:
        for name, scenario in ((INSPECT, THREE), (WEATHER_WAV, WEATHER)):
            originals[name] = await run_messages(
                recorder.url,
                emulator.scenario(scenario),
                _messages(name),
                query=QUERY,
                close_after_send=True,
            )
    finally:
        assert recorder.stop() == 0
    paths = {o.request_id: recordings / f"{o.request_id}.json" for o in originals.values()}
    assert sorted(recordings.glob("*.json")) == sorted(paths.values())
    inspect = load_scenario(paths[originals[INSPECT].request_id])  # valid against the contract
    (recording,) = inspect.recordings
    assert recording.name == originals[INSPECT].request_id and not inspect.utterances
    assert [u.text for u in recording.utterances] == [u["text"] for u in THREE["utterances"]]
    assert all(Path(u.audio["de"]).is_file() for u in recording.utterances)
    assert json.loads(paths[recording.name].read_text())["description"].startswith("recorded")

    # Replay: a fresh local service that knows nothing but the recordings, on any key.
    replay_service = start_process(
        shim_command("emulator", "--scenario", str(recordings)), tmp_path / "replay-emulator.log"
    )
    replay_shim = start_process(
        shim_command("serve", "--port", "0", "--speech-host", replay_service.url, "--auth", "open"),
        tmp_path / "replay-shim.log",
    )
    try:
        # The other order than recorded: each audio is known by its sound, not its turn.
        for name in (WEATHER_WAV, INSPECT):
            replayed = await run_messages(
                replay_shim.url, "any", _messages(name), query=QUERY, close_after_send=True
            )
            original = originals[name]
            assert replayed.finals == original.finals  # texts, translations, timing
            assert len(replayed.binaries) == len(original.binaries) > 0
            for mine, theirs in zip(replayed.binaries, original.binaries, strict=True):
                with wave.open(io.BytesIO(mine)) as a, wave.open(io.BytesIO(theirs)) as b:
                    assert a.getnframes() == b.getnframes()
    finally:
        assert replay_shim.stop() == 0
        assert replay_service.stop() == 0
