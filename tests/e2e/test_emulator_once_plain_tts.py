"""recognize_once, the plain SpeechRecognizer and the SpeechSynthesizer, against the emulator."""

from __future__ import annotations

import threading

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support.paths import read_pcm
from tests.support.processes import Emulator
from tests.support.scenarios import WEATHER
from tests.support.sdk_harness import FAST, named, run_continuous, translation_config

pytestmark = pytest.mark.e2e


def _push(pcm: bytes, close: bool = True) -> speechsdk.audio.PushAudioInputStream:
    stream = speechsdk.audio.PushAudioInputStream()
    stream.write(pcm)
    if close:
        stream.close()
    return stream


def _speech_config(emulator: Emulator, key: str) -> speechsdk.SpeechConfig:
    config = speechsdk.SpeechConfig(host=emulator.url, subscription=key)
    config.speech_recognition_language = "en-US"
    for name, value in FAST.items():
        config.set_property_by_name(name, value)
    return config


def test_translation_recognize_once_returns_the_scripted_text(emulator: Emulator) -> None:
    config = translation_config(emulator.url, emulator.scenario(WEATHER), "en-US", ["de"])
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config,
        audio_config=speechsdk.audio.AudioConfig(
            stream=_push(read_pcm("en-US_whatstheweatherlike.wav"))
        ),
    )
    result = recognizer.recognize_once_async().get()
    del recognizer
    assert result.reason == speechsdk.ResultReason.TranslatedSpeech
    assert result.text == "What's the weather like?"
    assert result.translations["de"] == "Wie ist das Wetter?"
    assert result.offset == 1_000_000 and result.duration == 12_900_000


def test_once_with_the_stream_left_open_still_completes(emulator: Emulator) -> None:
    config = translation_config(emulator.url, emulator.scenario(WEATHER), "en-US", ["de"])
    stream = _push(read_pcm("en-US_whatstheweatherlike.wav"), close=False)
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    result = recognizer.recognize_once_async().get()
    stream.close()
    del recognizer
    assert result.reason == speechsdk.ResultReason.TranslatedSpeech
    assert result.text == "What's the weather like?"


def test_plain_speech_recognizer_once_and_continuous(emulator: Emulator) -> None:
    key = emulator.scenario(WEATHER)
    pcm = read_pcm("en-US_whatstheweatherlike.wav")
    recognizer = speechsdk.SpeechRecognizer(
        speech_config=_speech_config(emulator, key),
        audio_config=speechsdk.audio.AudioConfig(stream=_push(pcm)),
    )
    result = recognizer.recognize_once_async().get()
    del recognizer
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech
    assert result.text == "What's the weather like?"

    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.SpeechRecognizer(
        speech_config=_speech_config(emulator, key),
        audio_config=speechsdk.audio.AudioConfig(stream=stream),
    )
    events = run_continuous(recognizer, stream, pcm)
    del recognizer
    assert [e.text for e in named(events, "recognized")] == ["What's the weather like?"]
    assert named(events, "recognizing", "RecognizingSpeech")
    assert [(c.reason, c.code) for c in named(events, "canceled")] == [("EndOfStream", "NoError")]


def test_plain_recognizer_detailed_output_keeps_display_text(emulator: Emulator) -> None:
    config = _speech_config(emulator, emulator.scenario(WEATHER))
    config.output_format = speechsdk.OutputFormat.Detailed
    recognizer = speechsdk.SpeechRecognizer(
        speech_config=config,
        audio_config=speechsdk.audio.AudioConfig(
            stream=_push(read_pcm("en-US_whatstheweatherlike.wav"))
        ),
    )
    result = recognizer.recognize_once_async().get()
    del recognizer
    assert result.text == "What's the weather like?"
    assert '"NBest"' in result.json


@pytest.mark.parametrize(
    "output_format",
    [
        speechsdk.SpeechSynthesisOutputFormat.Raw16Khz16BitMonoPcm,
        speechsdk.SpeechSynthesisOutputFormat.Riff24Khz16BitMonoPcm,
        speechsdk.SpeechSynthesisOutputFormat.Audio16Khz32KBitRateMonoMp3,
    ],
)
def test_speech_synthesizer_gets_audio_and_word_and_punctuation_boundaries(
    emulator: Emulator, output_format: speechsdk.SpeechSynthesisOutputFormat
) -> None:
    config = speechsdk.SpeechConfig(host=emulator.url, subscription=emulator.scenario({}))
    config.speech_synthesis_voice_name = "de-DE-KatjaNeural"
    config.set_speech_synthesis_output_format(output_format)
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    text = "Guten Morgen, Steve, wie geht es dir?"
    # As Azure: words without their punctuation, each punctuation mark a boundary of its own.
    expected = [
        ("Guten", "Word"),
        ("Morgen", "Word"),
        (",", "Punctuation"),
        ("Steve", "Word"),
        (",", "Punctuation"),
        ("wie", "Word"),
        ("geht", "Word"),
        ("es", "Word"),
        ("dir", "Word"),
        ("?", "Punctuation"),
    ]
    words: list[tuple[str, str]] = []
    all_words = threading.Event()

    def on_word(args: speechsdk.SpeechSynthesisWordBoundaryEventArgs) -> None:
        words.append((args.text, args.boundary_type.name))
        if len(words) == len(expected):
            all_words.set()

    synthesizer.synthesis_word_boundary.connect(on_word)
    result = synthesizer.speak_text_async(text).get()
    all_words.wait(5)  # events may arrive after the future (spec §10)
    synthesizer.synthesis_word_boundary.disconnect_all()
    del synthesizer
    assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted, (
        result.cancellation_details.error_details if result.cancellation_details else ""
    )
    assert len(result.audio_data) > 8000
    assert result.audio_duration.total_seconds() > 0.5
    assert words == expected
