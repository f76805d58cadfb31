"""The stream format the SDKs declare, honoured: any rate, 8/16/24/32-bit, μ-law and A-law,
mono or stereo, with the real Python and JavaScript SDKs on both engines.

Both SDKs put the format in the RIFF header of a turn's first audio message (PCM tag 1,
A-law 6, μ-law 7; the JavaScript SDK declares 16 bits for the 8-bit companded ones).
Compressed input (MP3, Opus, FLAC) is decoded by the Python SDK itself, with GStreamer,
before it is sent; the JavaScript SDK cannot send it (docs/local-speech-service.md).
"""

from __future__ import annotations

from collections.abc import Callable

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support.audio_formats import encode
from tests.support.js_sdk import named as js_named
from tests.support.js_sdk import run_js
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, RunningProcess, Service
from tests.support.sdk_harness import Event, named, translate_continuous

pytestmark = pytest.mark.e2e

WEATHER_TEXT = "What's the weather like?"
WEATHER = {"utterances": [{"text": WEATHER_TEXT, "translations": {"de": "Wie ist das Wetter?"}}]}
MS = 10_000
WaveFormat = speechsdk.AudioStreamWaveFormat

# name: (rate, channels, bits, encoding for tests.support.audio_formats, the SDK's wave format)
FORMATS = {
    "pcm-44k1-stereo": (44_100, 2, 16, "pcm", WaveFormat.PCM),
    "pcm-8k": (8_000, 1, 16, "pcm", WaveFormat.PCM),
    "pcm-8bit": (16_000, 1, 8, "pcm", WaveFormat.PCM),
    "pcm-24bit-48k": (48_000, 1, 24, "pcm", WaveFormat.PCM),
    "pcm-32bit": (16_000, 1, 32, "pcm", WaveFormat.PCM),
    "mulaw-8k": (8_000, 1, 8, "mulaw", WaveFormat.MULAW),
    "alaw-8k": (8_000, 1, 8, "alaw", WaveFormat.ALAW),
}


def _python_session(url: str, key: str, name: str, target: str = "de") -> list[Event]:
    rate, channels, bits, encoding, wave_format = FORMATS[name]
    pcm = read_pcm("en-US_whatstheweatherlike.wav") + bytes(32_000)
    stream_format = speechsdk.audio.AudioStreamFormat(
        samples_per_second=rate,
        bits_per_sample=bits,
        channels=channels,
        wave_stream_format=wave_format,
    )
    audio = encode(pcm, rate, channels, bits, encoding)
    return translate_continuous(url, key, audio, targets=[target], stream_format=stream_format)


def _speech_span(events: list[Event]) -> tuple[int, int]:
    (final,) = named(events, "recognized")
    return final.offset, final.offset + final.duration


def test_python_every_format_is_heard_where_its_speech_is(emulator: Emulator) -> None:
    """The detector finds the question at the same place in every format, and the session's
    audio lasts as long as it really does (3.03 s), not as long as its bytes at 16 kHz."""
    key = emulator.scenario(WEATHER)
    reference = translate_continuous(
        emulator.url, key, read_pcm("en-US_whatstheweatherlike.wav") + bytes(32_000)
    )
    start, end = _speech_span(reference)
    for name in FORMATS:
        events = _python_session(emulator.url, key, name)
        assert [f.text for f in named(events, "recognized")] == [WEATHER_TEXT], name
        got = _speech_span(events)
        # (At 8 kHz half the band is gone, and G.711's quiet is not digital silence: the
        # detector's end moves by a few frames. A format read wrong would move it by seconds.)
        assert abs(got[0] - start) <= 100 * MS and abs(got[1] - end) <= 200 * MS, (name, got)
        (last,) = named(events, "speech_end_detected")
        assert 3_020 * MS <= last.offset <= 3_050 * MS, name


@pytest.mark.parametrize("name", ["pcm-44k1-stereo", "mulaw-8k", "alaw-8k"])
def test_python_formats_with_the_local_engine(
    local_speech_service: RunningProcess, name: str
) -> None:
    events = _python_session(local_speech_service.url, "any", name, target="en")
    texts = [f.text for f in named(events, "recognized") if f.text]
    assert texts and "weather" in " ".join(texts).lower()


@pytest.mark.parametrize(
    ("tag", "rate", "channels"), [("PCM", 44_100, 1), ("MuLaw", 16_000, 1), ("ALaw", 8_000, 1)]
)
def test_js_declared_formats(
    node: str, service: Service, pcm_file: Callable[..., str], tag: str, rate: int, channels: int
) -> None:
    """What the SDK's "PushStream44K, muLaw, Alaw files" test sends: the JavaScript SDK's
    header says 16 bits per sample for the companded formats too."""
    encoding = {"PCM": "pcm", "MuLaw": "mulaw", "ALaw": "alaw"}[tag]
    bits = 16 if tag == "PCM" else 8
    pcm = read_pcm("en-US_whatstheweatherlike.wav") + bytes(32_000)
    records = run_js(
        node,
        {
            "kind": "speech",
            "mode": "once",
            "host": service.url,
            "key": service.key(WEATHER),
            "format": {"rate": rate, "bits": 16, "channels": channels, "tag": tag},
            "audio": pcm_file(pcm=encode(pcm, rate, channels, bits, encoding)),
        },
    )
    (result,) = js_named(records, "result")
    assert result["reason"] == "RecognizedSpeech"
    assert "weather" in result["text"].lower()
