"""The real Speech SDK against the local Speech service: translation sessions end to end."""

from __future__ import annotations

import base64
import io
import itertools
import json
import subprocess
import sys
import wave

import pytest

from tests.support.paths import ROOT, read_pcm
from tests.support.processes import Emulator
from tests.support.scenarios import INSPECT, THREE
from tests.support.sdk_harness import Event, named, translate_continuous

pytestmark = pytest.mark.e2e

TICKS_PER_MS = 10_000


def _in_sdk_process(
    emulator: Emulator, key: str, targets: str, voice: str
) -> tuple[int, list[Event], str]:
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.sdk_translate_script",
            emulator.url,
            key,
            INSPECT,
            targets,
            voice,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    events = []
    for line in process.stdout.splitlines():
        record = json.loads(line)
        record["audio"] = base64.b64decode(record["audio"])
        events.append(Event(**record))
    return process.returncode, events, process.stderr


def test_continuous_translation_fires_every_sdk_event_with_scripted_values(
    emulator: Emulator,
) -> None:
    key = emulator.scenario(THREE)
    code, events, stderr = _in_sdk_process(emulator, key, "de,es", "de-DE-KatjaNeural")
    assert code == 0, f"SDK process exited {code} (abort at exit?): {stderr[-2000:]}"

    names = [e.name for e in events]
    assert names[0] == "session_started"
    assert names[-1] == "session_stopped"
    partials = named(events, "recognizing", "TranslatingSpeech")
    assert partials, names
    assert all(set(p.translations) == {"de", "es"} for p in partials)

    finals = named(events, "recognized")
    assert [f.reason for f in finals] == ["TranslatedSpeech"] * 3
    for final, utterance in zip(finals, THREE["utterances"], strict=True):
        assert final.text == utterance["text"]
        assert final.translations == utterance["translations"]
        assert abs(final.offset - utterance["offset_ms"] * TICKS_PER_MS) <= 10 * TICKS_PER_MS
        assert abs(final.duration - utterance["duration_ms"] * TICKS_PER_MS) <= 10 * TICKS_PER_MS

    audio = named(events, "synthesizing", "SynthesizingAudio")
    completed = named(events, "synthesizing", "SynthesizingAudioCompleted")
    assert len(completed) == 3 and all(not c.audio for c in completed)
    assert audio and all(a.audio[:4] == b"RIFF" for a in audio)
    with wave.open(io.BytesIO(audio[0].audio)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert wav.getnframes() > 0

    canceled = named(events, "canceled")
    assert [(c.reason, c.code) for c in canceled] == [("EndOfStream", "NoError")]
    assert names.index("canceled") < names.index("session_stopped")


def test_partials_grow_and_precede_their_final(emulator: Emulator) -> None:
    key = emulator.scenario(THREE)
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de"])
    sequence = [e for e in events if e.name in ("recognizing", "recognized")]
    current: list[str] = []
    for event in sequence:
        if event.name == "recognizing":
            if current:
                assert event.text.startswith(current[-1].split()[0])
                assert len(event.text) >= len(current[-1])
            current.append(event.text)
        else:
            assert current, "a final without partials before it"
            assert event.text.rstrip(".").startswith(current[-1])
            current = []


def test_target_without_scripted_translation_gets_a_visibly_synthetic_one(
    emulator: Emulator,
) -> None:
    key = emulator.scenario(
        {
            "utterances": [
                {"offset_ms": 500, "duration_ms": 1000, "text": "What's the weather like?"}
            ]
        }
    )
    events = translate_continuous(
        emulator.url, key, read_pcm("en-US_whatstheweatherlike.wav"), targets=["fr"]
    )
    (final,) = named(events, "recognized")
    assert final.translations == {"fr": "[fr] What's the weather like?"}


def test_utterances_without_times_land_on_the_speech_in_order(emulator: Emulator) -> None:
    pcm = read_pcm("en-US_jfk.wav")
    key = emulator.scenario(
        {
            "utterances": [
                {"text": "And so my fellow Americans,"},
                {"text": "ask not what your country can do for you."},
            ]
        }
    )
    events = translate_continuous(emulator.url, key, pcm, targets=["de"])
    finals = named(events, "recognized", "TranslatedSpeech")
    assert [f.text for f in finals] == [
        "And so my fellow Americans,",
        "ask not what your country can do for you.",
    ]
    samples = memoryview(pcm).cast("h")

    def loudness(offset_ticks: int, span_ms: int = 200) -> float:
        start = offset_ticks * 16_000 // 10_000_000
        window = samples[start : start + span_ms * 16]
        return (sum(s * s for s in window) / max(1, len(window))) ** 0.5

    leading_silence = loudness(0, 250)
    for final in finals:
        assert final.duration > 0
        assert loudness(final.offset) > 4 * leading_silence, "final starts in silence"
    assert finals[0].offset + finals[0].duration <= finals[1].offset
    assert finals[0].offset >= 2_000_000  # jfk.wav: ~0.3 s of hiss before the first word


def test_long_silence_is_acknowledged_so_the_sdk_buffer_never_overflows(emulator: Emulator) -> None:
    """100 s of trailing silence written at once (a legacy whole-file client) completes."""
    key = emulator.scenario(THREE)
    pcm = read_pcm(INSPECT) + bytes(3_200_000)
    events = translate_continuous(
        emulator.url,
        key,
        pcm,
        targets=["de"],
        chunk=1_000_000,
        properties={"SPEECH-MaxBufferSizeMs": "300000"},
    )
    finals = named(events, "recognized")
    assert [f.text for f in finals if f.text] == [u["text"] for u in THREE["utterances"]]
    # The silence is acknowledged in empty phrases, one per silence timeout, end to end.
    silences = [f for f in finals if f.reason == "TranslatedSpeech" and not f.text]
    assert len(silences) >= 100 // 20
    for before, after in itertools.pairwise(silences):
        assert after.offset == before.offset + before.duration
    assert silences[-1].offset + silences[-1].duration >= len(pcm) * 10_000_000 // 32_000
    assert [(c.reason, c.code) for c in named(events, "canceled")] == [("EndOfStream", "NoError")]
