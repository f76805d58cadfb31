"""Silence as Azure handles it, with the real Python SDK against the local Speech service.

What the SDKs' own tests expect of the service ("Silence Then Speech", "Silence After
Speech", the multi-turn offset tests; docs/local-speech-service.md, "Fidelity"): silence
ends a turn at the initial silence timeout (15 s in continuous mode) while the service waits
for speech, and at the end silence timeout (20 s) after speech; each such end is an empty
phrase with its own ``speech_end_detected``, and the SDK's next turn goes on from there with
offsets that continue. Speech the scenario does not script ends in ``NoMatch``.
"""

from __future__ import annotations

import itertools

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support.paths import read_pcm
from tests.support.processes import Emulator, RunningProcess
from tests.support.scenarios import INSPECT
from tests.support.sdk_harness import (
    FAST,
    Event,
    named,
    recognize_continuous,
    translate_continuous,
)

pytestmark = pytest.mark.e2e

TICKS_PER_MS = 10_000
SECOND = 1_000 * TICKS_PER_MS
WEATHER_WAV = "en-US_whatstheweatherlike.wav"
WEATHER_TEXT = "What's the weather like?"
# The weather question wherever the detector hears it (twice, for audio that repeats it).
WEATHER_TWICE = {
    "utterances": [{"text": WEATHER_TEXT, "translations": {"de": "Wie ist das Wetter?"}}] * 2
}
SILENCE_30 = bytes(32 * 1024 * 30)  # the SDK tests' "~30 seconds" of silence: 30.72 s


def _silent(event: Event) -> bool:
    return not event.text


def _check_contiguous_and_growing(finals: list[Event], ends: list[Event]) -> None:
    """Offsets only grow, across every turn; each turn the service ended ends where its last
    phrase does (the last turn ends with the audio)."""
    offsets = [f.offset for f in finals]
    assert offsets == sorted(offsets)
    assert [e.offset for e in ends] == sorted(e.offset for e in ends)
    for end in ends:
        before = [f for f in finals if f.offset < end.offset]
        assert before
        if end is ends[-1]:
            assert end.offset >= before[-1].offset + before[-1].duration
        else:
            assert end.offset == before[-1].offset + before[-1].duration


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


def test_silence_then_speech_ends_two_silent_turns_before_the_speech(emulator: Emulator) -> None:
    pcm = SILENCE_30 + read_pcm(WEATHER_WAV)
    events = recognize_continuous(emulator.url, emulator.scenario(WEATHER_TWICE), pcm)
    finals = named(events, "recognized")
    assert [(f.reason, f.no_match_reason, f.text) for f in finals] == [
        ("NoMatch", "InitialSilenceTimeout", ""),
        ("NoMatch", "InitialSilenceTimeout", ""),
        ("RecognizedSpeech", "", WEATHER_TEXT),
    ]
    assert [(f.offset, f.duration) for f in finals[:2]] == [(0, 15 * SECOND), (15 * SECOND,) * 2]
    assert finals[2].offset > 30 * SECOND  # where the question is in the audio
    ends = named(events, "speech_end_detected")
    assert len(ends) == 3  # as "Silence Then Speech" counts: two silent turns, then the speech
    _check_contiguous_and_growing(finals, ends)
    assert [(c.reason, c.code) for c in named(events, "canceled")] == [("EndOfStream", "NoError")]


def test_silence_after_speech_ends_the_turn_at_the_end_silence_timeout(
    emulator: Emulator,
) -> None:
    pcm = read_pcm(WEATHER_WAV) + SILENCE_30
    events = translate_continuous(emulator.url, emulator.scenario(WEATHER_TWICE), pcm)
    finals = named(events, "recognized")
    assert [f.text for f in finals] == [WEATHER_TEXT, "", ""]
    # Continuous translation says silence with empty successful phrases.
    assert {f.reason for f in finals} == {"TranslatedSpeech"}
    speech, after, rest = finals
    assert (after.offset, after.duration) == (speech.offset + speech.duration, 20 * SECOND)
    assert rest.offset == after.offset + after.duration
    assert rest.offset + rest.duration >= len(pcm) * 10_000_000 // 32_000  # the whole audio
    ends = named(events, "speech_end_detected")
    assert len(ends) == len([f for f in finals if _silent(f)]) == 2  # "Silence After Speech"
    _check_contiguous_and_growing(finals, ends)


def test_short_pauses_keep_one_turn_and_its_end_raises_no_extra_event(
    emulator: Emulator,
) -> None:
    """Two questions a second apart: two phrases, one end of speech, no empty phrase. (The
    service also acknowledges the audio's tail with an EndOfDictation, which no SDK turns
    into an event.)"""
    weather = read_pcm(WEATHER_WAV)
    events = recognize_continuous(
        emulator.url, emulator.scenario(WEATHER_TWICE), weather + bytes(32 * 1024) + weather
    )
    assert [(f.reason, f.text) for f in named(events, "recognized")] == [
        ("RecognizedSpeech", WEATHER_TEXT)
    ] * 2
    assert len(named(events, "speech_end_detected")) == 1
    assert [(c.reason, c.code) for c in named(events, "canceled")] == [("EndOfStream", "NoError")]


def test_the_clients_silence_timeouts_replace_the_services(emulator: Emulator) -> None:
    pcm = bytes(32_000 * 9) + read_pcm(WEATHER_WAV) + bytes(32_000 * 5)
    events = recognize_continuous(
        emulator.url,
        emulator.scenario(WEATHER_TWICE),
        pcm,
        properties={
            "SpeechServiceConnection_InitialSilenceTimeoutMs": "4000",
            "SpeechServiceConnection_EndSilenceTimeoutMs": "2000",
        },
    )
    finals = named(events, "recognized")
    assert [f.text for f in finals] == ["", "", WEATHER_TEXT, "", ""]
    assert [f.duration for f in finals[:2]] == [4 * SECOND] * 2
    assert finals[3].duration == 2 * SECOND  # the end silence after the question
    _check_contiguous_and_growing(finals, named(events, "speech_end_detected"))


def test_offsets_stay_true_to_the_audio_across_silent_turns_and_a_reconnect(
    emulator: Emulator,
) -> None:
    """A 1011 after the first phrase: the SDK reconnects and replays. Its new turn waits for
    speech again (the initial silence timeout, not the end one), yet every phrase lands where
    it does without the fault, and silence stays acknowledged end to end."""
    weather = read_pcm(WEATHER_WAV)
    pcm = weather + bytes(32_000 * 25) + weather
    fault = {"after_phrase": 1, "close_code": 1011, "once": True}
    plain = translate_continuous(emulator.url, emulator.scenario(WEATHER_TWICE), pcm)
    key = emulator.scenario({**WEATHER_TWICE, "faults": [fault]})
    faulted = translate_continuous(emulator.url, key, pcm)
    for events in (plain, faulted):
        finals = named(events, "recognized")
        _check_contiguous_and_growing(finals, named(events, "speech_end_detected"))
        silences = [f for f in finals if _silent(f)]
        speech = [f for f in finals if not _silent(f)]
        covered = sorted((f.offset, f.offset + f.duration) for f in finals)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(covered))
        assert silences and [f.text for f in speech] == [WEATHER_TEXT] * 2
    speech_at = [
        [(f.offset, f.duration) for f in named(events, "recognized") if not _silent(f)]
        for events in (plain, faulted)
    ]
    assert speech_at[0] == speech_at[1]
    assert next(f.duration for f in named(faulted, "recognized") if _silent(f)) == 15 * SECOND


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


# ---- the local engine ------------------------------------------------------------------------
def test_the_local_engine_ends_silent_turns_like_the_service(
    local_speech_service: RunningProcess,
) -> None:
    pcm = bytes(32_000 * 16) + read_pcm(INSPECT)[: 32_000 * 8] + bytes(32_000 * 21)
    events = translate_continuous(local_speech_service.url, "any", pcm, targets=["en"])
    finals = named(events, "recognized")
    texts = [f.text for f in finals]
    # 16 s: one initial silence timeout; the speech; 20 s after it: the end silence; the rest.
    assert texts[0] == "" and finals[0].duration == 15 * SECOND
    spoken = [t for t in texts if t]
    assert spoken and "custom speech" in " ".join(spoken).lower()
    assert texts[-2:] == ["", ""] and finals[-2].duration == 20 * SECOND
    ends = named(events, "speech_end_detected")
    assert len(ends) == 3
    _check_contiguous_and_growing(finals, ends)
