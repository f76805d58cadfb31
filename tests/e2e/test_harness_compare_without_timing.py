"""``compare`` on sessions without TimingInfo, against the server a newcomer runs.

The drop-in server runs as ``serve`` does by default on loopback (open mode, embedded
local Speech service), with a scenario so the results are known. One session is recorded
twice, by a burst client and by a realtime client, without TimingInfo and without a key:
their finals arrive seconds apart, yet the comparison pairs them one to one. A live side
replays a recording at its recorded pacing and, like ``client``, needs no key.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shim.harness.recordings.messages import utterances
from shim.harness.recordings.recording import Recording, read_recording
from tests.support.contracts import ContractSuite
from tests.support.paths import AUDIO
from tests.support.processes import RunningProcess, run_tool, shim_command, start_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JFK = "en-US_jfk.wav"
SCENARIO = {
    "utterances": [
        {
            "offset_ms": 300,
            "duration_ms": 2500,
            "text": "And so, my fellow Americans,",
            "translations": {"de": "Und so, meine amerikanischen Mitbürger,"},
        },
        {
            "offset_ms": 3500,
            "duration_ms": 3500,
            "text": "ask not what your country can do for you,",
            "translations": {"de": "fragt nicht, was euer Land für euch tun kann,"},
        },
        {
            "offset_ms": 7500,
            "duration_ms": 3000,
            "text": "ask what you can do for your country.",
            "translations": {"de": "fragt, was ihr für euer Land tun könnt."},
        },
    ]
}
TEXTS = [u["text"] for u in SCENARIO["utterances"]]
PROFILES = ("burst", "realtime")


def tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``translator-speech-shim COMMAND …`` with no key in the environment either."""
    return run_tool(*args, environ={k: v for k, v in os.environ.items() if k != "TRANSLATOR_KEY"})


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """``serve`` with its defaults (open on loopback, embedded service), one scenario."""
    folder = tmp_path_factory.mktemp("open-server")
    scenario = folder / "jfk.json"
    scenario.write_text(json.dumps(SCENARIO))
    running = start_process(
        shim_command("serve", "--port", "0", "--scenario", str(scenario)), folder / "shim.log"
    )
    yield running
    assert running.stop() == 0, running.log()[-3000:]


@dataclass
class Recorded:
    paths: dict[str, Path]

    def recording(self, profile: str) -> Recording:
        return read_recording(self.paths[profile])


@pytest.fixture(scope="module")
def recorded(open_server: RunningProcess, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The same session by a burst and by a realtime client, no TimingInfo, no key."""
    folder = tmp_path_factory.mktemp("recordings")
    paths = {}
    for profile in PROFILES:
        paths[profile] = folder / f"{profile}.jsonl"
        done = tool(
            "record", AUDIO / JFK, "--url", open_server.url, "--to", "de",
            "--features", "partial,texttospeech", "--profile", profile, "--speed", "2",
            "-o", paths[profile],
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    return Recorded(paths)


def _finals_at(recording: Recording) -> list[float]:
    return [u.final.message.t for u in utterances(recording)]


def _client_span(recording: Recording) -> float:
    sent = [f.t for f in recording.frames if f.direction == "out" and f.is_data]
    return sent[-1] - sent[0]


def test_a_burst_and_a_realtime_recording_of_one_session_compare_equal(
    recorded: Recorded, tmp_path: Path, contract: ContractSuite
) -> None:
    burst, realtime = recorded.recording("burst"), recorded.recording("realtime")
    for profile in PROFILES:
        contract.recording_file(recorded.paths[profile])
        assert "timinginfo" not in recorded.recording(profile).url.lower()
        assert [u.final.recognition for u in utterances(recorded.recording(profile))] == TEXTS
    assert _finals_at(realtime)[-1] - _finals_at(burst)[-1] > 2  # arrival times disagree

    html = tmp_path / "report.html"
    done = tool("compare", recorded.paths["burst"], recorded.paths["realtime"], "--html", html)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "paired by order and text" in done.stdout
    assert "recognition WER 0.0%, translation WER 0.0%; 3 utterances in A, 3 in B" in done.stdout
    assert "no differences outside the ignored paths" in done.stdout
    assert "IDENTICAL" in html.read_text()


@pytest.mark.parametrize("profile", PROFILES)
def test_a_recording_without_timing_compared_live_replays_at_its_pacing_with_no_key(
    open_server: RunningProcess,
    recorded: Recorded,
    tmp_path: Path,
    contract: ContractSuite,
    profile: str,
) -> None:
    live = tmp_path / "live"
    done = tool(
        "compare", recorded.paths[profile], open_server.url,
        "--record-dir", live, "--html", tmp_path / "report.html",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "at the recorded pacing" in done.stdout
    assert "recognition WER 0.0%, translation WER 0.0%; 3 utterances in A, 3 in B" in done.stdout
    assert "no differences outside the ignored paths" in done.stdout

    replayed = read_recording(live / "B.jsonl")
    contract.recording_file(live / "B.jsonl")
    assert replayed.status == 101
    assert ["Ocp-Apim-Subscription-Key", "***"] in replayed.request["headers"]  # client's key
    original = recorded.recording(profile)
    # The recorded pauses were kept (as fast as possible would send it all in well under 1 s;
    # a busy machine can only make the replay slower, never faster).
    assert _client_span(replayed) >= 0.8 * _client_span(original) > 2
