"""Audio with nothing scripted for it, with the real Python SDK: silence ends in the
service's InitialSilenceTimeout, speech beyond a scenario's utterances in NoMatch."""

from __future__ import annotations

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support.paths import read_pcm
from tests.support.processes import Emulator
from tests.support.scenarios import INSPECT
from tests.support.sdk_harness import FAST, named, translate_continuous

pytestmark = pytest.mark.e2e

TICKS_PER_MS = 10_000


def test_once_on_silence_times_out_at_the_initial_silence_timeout(emulator: Emulator) -> None:
    config = speechsdk.SpeechConfig(host=emulator.url, subscription=emulator.scenario({}))
    config.speech_recognition_language = "en-US"
    for name, value in FAST.items():
        config.set_property_by_name(name, value)
    config.set_property(
        speechsdk.PropertyId.SpeechServiceConnection_InitialSilenceTimeoutMs, "3000"
    )
    stream = speechsdk.audio.PushAudioInputStream()
    stream.write(bytes(32_000 * 8))
    stream.close()
    recognizer = speechsdk.SpeechRecognizer(
        speech_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    result = recognizer.recognize_once_async().get()
    del recognizer
    assert result.reason == speechsdk.ResultReason.NoMatch
    assert result.no_match_details.reason == speechsdk.NoMatchReason.InitialSilenceTimeout
    assert result.text == ""
    assert (result.offset, result.duration) == (0, 3_000 * TICKS_PER_MS)


def test_continuous_on_short_silence_ends_in_one_initial_silence_timeout(
    emulator: Emulator,
) -> None:
    events = translate_continuous(emulator.url, emulator.scenario({}), bytes(32_000 * 3))
    finals = named(events, "recognized")
    assert [(f.reason, f.no_match_reason, f.text) for f in finals] == [
        ("NoMatch", "InitialSilenceTimeout", "")
    ]
    assert finals[0].duration == 3_000 * TICKS_PER_MS
    assert [(c.reason, c.code) for c in named(events, "canceled")] == [("EndOfStream", "NoError")]


def test_speech_after_the_last_scripted_utterance_is_not_recognized(emulator: Emulator) -> None:
    scenario = {"utterances": [{"text": "Only the first sentence is scripted."}]}
    events = translate_continuous(emulator.url, emulator.scenario(scenario), read_pcm(INSPECT))
    finals = named(events, "recognized")
    assert finals[0].text == "Only the first sentence is scripted."
    rest = finals[1:]
    assert rest, "the recording has more than one stretch of speech"
    assert all((f.reason, f.no_match_reason) == ("NoMatch", "NotRecognized") for f in rest)
    # Each stretch of speech is acknowledged once, in order.
    assert [f.offset for f in finals] == sorted({f.offset for f in finals})
    assert [(c.reason, c.code) for c in named(events, "canceled")] == [("EndOfStream", "NoError")]
