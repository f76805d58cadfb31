"""Several recognitions on one connection, with the real Python and JavaScript SDKs.

Both SDKs keep their connection between ``recognize_once`` calls and open a new turn on it
for the next one. The Python SDK replays the audio after the last phrase and says so
(``continuation``); the JavaScript SDK sends its stream on from where it stopped and counts
offsets from zero again (the SDK's own "Multiple RecognizeOnce calls share a connection").
Either way each call hears the next utterance, on the scripted and the local engines.
"""

from __future__ import annotations

from collections.abc import Callable

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support import sdk_harness
from tests.support.js_sdk import named, run_js
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, RunningProcess, Service
from tests.support.scenarios import INSPECT, THREE
from tests.support.sdk_harness import FAST, set_properties

pytestmark = pytest.mark.e2e

WEATHER_TEXT = "What's the weather like?"
WEATHER_TWICE = {"utterances": [{"text": WEATHER_TEXT}] * 2}
SECOND = 10_000_000


def _two_questions(gap_s: int = 1) -> bytes:
    weather = read_pcm("en-US_whatstheweatherlike.wav")
    return weather + bytes(32_000 * gap_s) + weather + bytes(32_000)


def _recognize_once_three_times(url: str, key: str) -> list[speechsdk.SpeechRecognitionResult]:
    config = speechsdk.SpeechConfig(host=url, subscription=key)
    config.speech_recognition_language = "en-US"
    set_properties(config, FAST)
    stream = speechsdk.audio.PushAudioInputStream()
    stream.write(_two_questions())
    stream.close()
    recognizer = speechsdk.SpeechRecognizer(
        speech_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    connection = speechsdk.Connection.from_recognizer(recognizer)
    opened: list[object] = []
    connection.connected.connect(opened.append)
    try:
        results = [recognizer.recognize_once_async().get() for _ in range(3)]
    finally:
        connection.connected.disconnect_all()
        del connection, recognizer
    assert len(opened) == 1  # one connection for every call
    return results


def _check_python(results: list[speechsdk.SpeechRecognitionResult], exact: bool) -> None:
    first, second, rest = results
    for result in (first, second):
        assert result.reason == speechsdk.ResultReason.RecognizedSpeech
        assert "weather" in result.text.lower()
        if exact:
            assert result.text == WEATHER_TEXT
    # The Python SDK counts offsets over the whole stream: the second question is 3 s in.
    assert first.offset < SECOND < 3 * SECOND < second.offset < 4 * SECOND
    assert rest.reason == speechsdk.ResultReason.NoMatch  # the trailing second of silence


def test_python_recognize_once_three_times_on_one_connection(emulator: Emulator) -> None:
    _check_python(_recognize_once_three_times(emulator.url, emulator.scenario(WEATHER_TWICE)), True)


def test_python_recognize_once_three_times_with_the_local_engine(
    local_speech_service: RunningProcess,
) -> None:
    _check_python(_recognize_once_three_times(local_speech_service.url, "any"), False)


def test_js_recognize_once_twice_on_one_connection(
    node: str, service: Service, pcm_file: Callable[..., str]
) -> None:
    records = run_js(
        node,
        {
            "kind": "speech",
            "mode": "once",
            "times": 2,
            # A live source at twice real time: what the SDK sends while the first call is
            # still being answered is that call's, so the second question comes 10 s later
            # (and the second call waits that long for speech).
            "paceMs": 50,
            "properties": {"SpeechServiceConnection_InitialSilenceTimeoutMs": "15000"},
            "host": service.url,
            "key": service.key(WEATHER_TWICE),
            "audio": pcm_file(pcm=_two_questions(gap_s=10)),
        },
    )
    results = named(records, "result")
    assert [r["reason"] for r in results] == ["RecognizedSpeech"] * 2
    assert all("weather" in r["text"].lower() for r in results)
    # Each call counts from its own start: the second question is not 12 s into it.
    assert all(r["offset"] < 11 * SECOND for r in results)
    assert len(named(records, "session_started")) == 2
    # As "Event Tests (RecognizeOnce)" expects: the end of speech, then the recognized phrase.
    order = [r["name"] for r in records if r["name"] in ("speech_end_detected", "recognized")]
    assert order == ["speech_end_detected", "recognized"] * 2


def test_js_speech_recognizer_on_the_universal_endpoint_gets_speech_results(
    node: str, emulator: Emulator, pcm_file: Callable[..., str]
) -> None:
    """The SDK's recognizer with endpoint version 2 (what Microsoft's own tests run) uses
    the universal endpoint; without a translation section its turns get speech.*."""
    records = run_js(
        node,
        {
            "kind": "speech",
            "endpoint": f"{emulator.url}/stt/speech/universal/v2",
            "key": emulator.scenario(WEATHER_TWICE),
            "audio": pcm_file(pcm=_two_questions()),
        },
    )
    assert [(r["reason"], r["text"]) for r in named(records, "recognized")] == [
        ("RecognizedSpeech", WEATHER_TEXT)
    ] * 2


def test_audio_that_ends_inside_an_utterance_ends_its_hypothesis_with_a_phrase(
    emulator: Emulator,
) -> None:
    """Every hypothesis is followed by a phrase before the turn ends, as on Azure: audio cut
    off mid-utterance gets a final of the words heard so far."""
    second = THREE["utterances"][1]
    cut_at_ms = second["offset_ms"] + second["duration_ms"] // 2
    pcm = read_pcm(INSPECT)[: cut_at_ms * 32]
    events = sdk_harness.translate_continuous(
        emulator.url, emulator.scenario(THREE), pcm, targets=["de"]
    )
    finals = sdk_harness.named(events, "recognized")
    assert finals[0].text == THREE["utterances"][0]["text"]
    (cut_short,) = finals[1:]
    assert cut_short.text and second["text"].startswith(cut_short.text)
    assert cut_short.text != second["text"]
    assert cut_short.offset // 10_000 == second["offset_ms"]
    last_hypothesis = sdk_harness.named(events, "recognizing")[-1]
    assert last_hypothesis.text == cut_short.text
