"""Silence and turns with Microsoft's JavaScript SDK, as its own tests expect of the service.

Our versions of what ``SpeechRecognizerSilenceTests.ts``, ``TranslationRecognizerBasicsTests.ts``
("Silence After Speech", "Silence Then Speech"), the multi-turn offset tests and the telemetry
test of ``SpeechRecognizerTests.ts`` check. These sessions keep the SDK's own pacing (the first
5 s of audio at once, then twice real time): it goes on after a turn the service ended only
while it is still sending, as against Azure. They run side by side to take seconds, not minutes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.js_sdk import Record, named, run_js, run_js_together
from tests.support.paths import read_pcm
from tests.support.processes import Emulator

pytestmark = pytest.mark.e2e

SECOND = 10_000_000
WEATHER_TEXT = "What's the weather like?"
WEATHER_TWICE = {
    "utterances": [{"text": WEATHER_TEXT, "translations": {"de": "Wie ist das Wetter?"}}] * 2
}
SILENCE_30 = bytes(32 * 1024 * 30)
PACED = {"SPEECH-TransmitLengthBeforThrottleMs": "5000"}  # the SDK's default pacing


def _ended_cleanly(records: list[Record]) -> None:
    assert [(c["reason"], c["code"]) for c in named(records, "canceled")] in (
        [("EndOfStream", "NoError")],
        [],  # stopped by the test after the turns it wanted
    )


def test_js_silence_ends_turns_as_the_sdks_own_tests_expect(
    node: str, emulator: Emulator, pcm_file: Callable[..., str]
) -> None:
    weather = read_pcm("en-US_whatstheweatherlike.wav")
    key = emulator.scenario(WEATHER_TWICE)
    common: dict[str, Any] = {"host": emulator.url, "key": key, "properties": PACED}
    then_speech, after_speech, turns = run_js_together(
        node,
        [
            {**common, "kind": "speech", "audio": pcm_file(pcm=SILENCE_30 + weather)},
            {
                **common,
                "kind": "translation",
                "targets": ["de-DE"],
                "audio": pcm_file(pcm=weather + SILENCE_30),
            },
            {
                **common,
                "kind": "speech",
                "detailed": True,
                "turns": 3,
                "audio": pcm_file(pcm=weather + bytes(32_000 * 40)),
                "properties": {
                    **PACED,
                    "SpeechServiceConnection_InitialSilenceTimeoutMs": "3000",
                    "SpeechServiceConnection_EndSilenceTimeoutMs": "3000",
                },
            },
        ],
    )

    # "Silence Then Speech": two silent turns end before the question, three ends in all.
    finals = named(then_speech, "recognized")
    assert [(f["reason"], f["text"]) for f in finals] == [
        ("NoMatch", ""),
        ("NoMatch", ""),
        ("RecognizedSpeech", WEATHER_TEXT),
    ]
    assert [f["noMatchReason"] for f in finals[:2]] == ["InitialSilenceTimeout"] * 2
    assert len(named(then_speech, "speech_end_detected")) == 3
    question = then_speech.index(finals[2])
    assert named(then_speech[:question], "speech_end_detected")
    _ended_cleanly(then_speech)

    # "Silence After Speech": the translation, then two empty phrases, each ending a turn.
    finals = named(after_speech, "recognized")
    assert [(f["reason"], f["text"]) for f in finals] == [
        ("TranslatedSpeech", WEATHER_TEXT),
        ("TranslatedSpeech", ""),
        ("TranslatedSpeech", ""),
    ]
    assert finals[0]["translations"] == {"de-DE": "Wie ist das Wetter?"}
    assert len(named(after_speech, "speech_end_detected")) == 2
    _ended_cleanly(after_speech)

    # The multi-turn offset test: every event of a later turn lies after the last phrase.
    last, events = -1, ("speech_start_detected", "recognizing", "recognized", "speech_end_detected")
    for record in turns:
        if record["name"] in events:
            assert record["offset"] > last, record
        if record["name"] == "recognized":
            last = record["offset"]
    assert named(turns, "recognized")[0]["text"] == WEATHER_TEXT
    ends = named(turns, "speech_end_detected")
    assert len(ends) == 3 and [e["offset"] for e in ends] == sorted({e["offset"] for e in ends})
    _ended_cleanly(turns)


def test_js_telemetry_counts_three_phrases_for_two_utterances_in_one_turn(
    node: str, emulator: Emulator, pcm_file: Callable[..., str]
) -> None:
    """The SDK's telemetry test: two questions a second apart are two recognized events, yet
    three phrases arrive in the turn's one telemetry (the EndOfDictation raises no event)."""
    weather = read_pcm("en-US_whatstheweatherlike.wav")
    records = run_js(
        node,
        {
            "kind": "speech",
            "host": emulator.url,
            "key": emulator.scenario(WEATHER_TWICE),
            "telemetry": True,
            "audio": pcm_file(pcm=weather + bytes(32 * 1024) + weather),
        },
    )
    assert [(r["reason"], r["text"]) for r in named(records, "recognized")] == [
        ("RecognizedSpeech", WEATHER_TEXT)
    ] * 2
    (telemetry,) = [json.loads(t["json"]) for t in named(records, "telemetry")]
    assert len(telemetry["ReceivedMessages"]["speech.phrase"]) == 3
    (latencies,) = [m["PhraseLatencyMs"] for m in telemetry["Metrics"] if "PhraseLatencyMs" in m]
    assert 2 <= len(latencies) <= 3
