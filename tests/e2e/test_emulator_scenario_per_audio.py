"""One key, many audio files: each file says what its recording in the scenario says, with
the real SDKs. The scenario directory is written by ``translator-speech-shim fingerprint``."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable

import pytest

from tests.support.audio_formats import encode
from tests.support.js_sdk import named as js_named
from tests.support.js_sdk import run_js
from tests.support.paths import AUDIO, read_pcm
from tests.support.processes import Emulator, shim_command
from tests.support.sdk_harness import named, translate_continuous

pytestmark = pytest.mark.e2e

FILES = {
    "en-US_whatstheweatherlike.wav": "What's the weather like?",
    "en-US_turn-on-the-lamp.wav": "Turn on the lamp.",
    "en-US_wreck-a-nice-beach.wav": "Wreck a nice beach.",
}


@pytest.fixture(scope="module")
def suite_key(emulator: Emulator) -> str:
    """A key whose scenario is a directory with a recording per file."""
    key = f"suite{uuid.uuid4().hex[:12]}"
    folder = emulator.scenario_dir / key
    folder.mkdir()
    command = shim_command("fingerprint", *(str(AUDIO / n) for n in FILES))
    for text in FILES.values():
        command += ["--text", text]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    (folder / "files.json").write_text(done.stdout)
    return key


def test_python_each_file_on_one_key_says_its_own_words(emulator: Emulator, suite_key: str) -> None:
    for name, text in FILES.items():
        events = translate_continuous(emulator.url, suite_key, read_pcm(name) + bytes(32_000))
        assert [f.text for f in named(events, "recognized") if f.text] == [text], name
    lamp_then_weather = read_pcm("en-US_turn-on-the-lamp.wav") + read_pcm(
        "en-US_whatstheweatherlike.wav"
    )
    events = translate_continuous(emulator.url, suite_key, lamp_then_weather)
    assert [f.text for f in named(events, "recognized") if f.text] == [
        "Turn on the lamp.",
        "What's the weather like?",
    ]


def test_js_the_same_file_twice_on_one_connection_and_at_44_1_khz(
    node: str, emulator: Emulator, suite_key: str, pcm_file: Callable[..., str]
) -> None:
    weather = read_pcm("en-US_whatstheweatherlike.wav")
    twice = run_js(
        node,
        {
            "kind": "speech",
            "mode": "once",
            "times": 2,
            "paceMs": 50,
            "host": emulator.url,
            "key": suite_key,
            "audio": pcm_file(pcm=weather + bytes(32_000 * 2) + weather + bytes(32_000)),
        },
    )
    assert [r["text"] for r in js_named(twice, "result")] == ["What's the weather like?"] * 2
    hi_fi = run_js(
        node,
        {
            "kind": "speech",
            "mode": "once",
            "host": emulator.url,
            "key": suite_key,
            "format": {"rate": 44_100, "bits": 16, "channels": 1, "tag": "PCM"},
            "audio": pcm_file(pcm=encode(weather, 44_100, 1, 16)),
        },
    )
    assert [r["text"] for r in js_named(hi_fi, "result")] == ["What's the weather like?"]
