"""Detailed output and language identification, with the real Python and JavaScript SDKs.

``OutputFormat.Detailed`` gets ``NBest`` in ``speech.phrase`` and ``translation.phrase``
(sdk-js ``TranslationRecognizerTests.ts`` "testGetOutputFormatDetailed"); word-level
timestamps add ``Words`` inside the phrase (the multi-turn offset test reads them; the
Python sample ``speech_recognize_once_from_file_with_detailed_recognition_results`` prints
them). Language identification (``AutoDetectSourceLanguageConfig``) gets ``PrimaryLanguage``
in each phrase (translations as ``translation.response``): the scenario says which language
an utterance is in; the local engine reports the first candidate.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support.js_sdk import named as js_named
from tests.support.js_sdk import run_js
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, Service
from tests.support.sdk_harness import FAST, set_properties

pytestmark = pytest.mark.e2e

WEATHER_TEXT = "What's the weather like?"
WEATHER = {
    "utterances": [{"text": WEATHER_TEXT, "translations": {"de": "Wie ist das Wetter?"}}] * 2
}
BILINGUAL = {
    "utterances": [
        {"text": "Wie ist das Wetter?", "language": "de-DE", "translations": {"fr": "Quel temps?"}},
        {"text": WEATHER_TEXT, "language": "en-US", "translations": {"fr": "Quel temps fait-il?"}},
    ]
}


def _two_questions() -> bytes:
    weather = read_pcm("en-US_whatstheweatherlike.wav")
    return weather + bytes(32_000) + weather + bytes(32_000)


def _recognizer(config: speechsdk.SpeechConfig, pcm: bytes, **extra: Any) -> speechsdk.Recognizer:
    set_properties(config, FAST)
    stream = speechsdk.audio.PushAudioInputStream()
    stream.write(pcm)
    stream.close()
    audio = speechsdk.audio.AudioConfig(stream=stream)
    if isinstance(config, speechsdk.translation.SpeechTranslationConfig):
        return speechsdk.translation.TranslationRecognizer(
            translation_config=config, audio_config=audio, **extra
        )
    return speechsdk.SpeechRecognizer(speech_config=config, audio_config=audio, **extra)


def _check_words(phrase: dict[str, Any], offset: int, duration: int) -> None:
    best = phrase["NBest"][0]
    words = best["Words"]
    assert [w["Word"] for w in words] == best["Lexical"].split()
    starts = [w["Offset"] for w in words]
    assert starts == sorted(starts) and starts[0] >= offset
    assert words[-1]["Offset"] + words[-1]["Duration"] <= offset + duration


def test_python_word_level_timestamps_put_words_in_the_detailed_phrase(service: Service) -> None:
    config = speechsdk.SpeechConfig(host=service.url, subscription=service.key(WEATHER))
    config.speech_recognition_language = "en-US"
    config.request_word_level_timestamps()
    recognizer = _recognizer(config, _two_questions())
    try:
        result = recognizer.recognize_once_async().get()
    finally:
        del recognizer
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech
    phrase = json.loads(result.json)
    assert phrase["NBest"][0]["Display"] == result.text
    _check_words(phrase, result.offset, result.duration)


def test_python_detailed_translation_has_nbest(emulator: Emulator) -> None:
    config = speechsdk.translation.SpeechTranslationConfig(
        host=emulator.url, subscription=emulator.scenario(WEATHER)
    )
    config.speech_recognition_language = "en-US"
    config.add_target_language("de")
    config.output_format = speechsdk.OutputFormat.Detailed
    recognizer = _recognizer(config, _two_questions())
    try:
        result = recognizer.recognize_once_async().get()
    finally:
        del recognizer
    assert result.reason == speechsdk.ResultReason.TranslatedSpeech
    (best,) = json.loads(result.json)["NBest"]
    assert set(best) >= {"Confidence", "Lexical", "ITN", "MaskedITN", "Display"}
    assert best["Display"] == WEATHER_TEXT and best["Lexical"] == "what's the weather like"


def test_python_language_identification_reports_the_language_of_each_utterance(
    emulator: Emulator,
) -> None:
    config = speechsdk.SpeechConfig(host=emulator.url, subscription=emulator.scenario(BILINGUAL))
    config.set_property(speechsdk.PropertyId.SpeechServiceConnection_LanguageIdMode, "Continuous")
    candidates = speechsdk.languageconfig.AutoDetectSourceLanguageConfig(["en-US", "de-DE"])
    recognizer = _recognizer(
        config, _two_questions(), auto_detect_source_language_config=candidates
    )
    found: list[tuple[str, str]] = []
    stopped = threading.Event()
    recognizer.recognized.connect(
        lambda e: found.append(
            (e.result.text, speechsdk.AutoDetectSourceLanguageResult(e.result).language)
        )
    )
    recognizer.session_stopped.connect(lambda _: stopped.set())
    try:
        recognizer.start_continuous_recognition_async().get()
        stopped.wait(30)
        recognizer.stop_continuous_recognition_async().get()
    finally:
        recognizer.recognized.disconnect_all()
        recognizer.session_stopped.disconnect_all()
        del recognizer
    assert found == [("Wie ist das Wetter?", "de-DE"), (WEATHER_TEXT, "en-US")]


def test_python_translation_reports_the_identified_language(emulator: Emulator) -> None:
    """With language identification translation results come as translation.response: the
    Python SDK fills AutoDetectSourceLanguageResult of a translation from no other form
    (usp-speech-service.md §8 found it empty with translation.phrase)."""
    config = speechsdk.translation.SpeechTranslationConfig(
        host=emulator.url, subscription=emulator.scenario(BILINGUAL)
    )
    config.add_target_language("fr")
    candidates = speechsdk.languageconfig.AutoDetectSourceLanguageConfig(["de-DE", "en-US"])
    recognizer = _recognizer(
        config, _two_questions(), auto_detect_source_language_config=candidates
    )
    try:
        result = recognizer.recognize_once_async().get()
    finally:
        del recognizer
    assert (result.text, result.translations["fr"]) == ("Wie ist das Wetter?", "Quel temps?")
    detected = speechsdk.PropertyId.SpeechServiceConnection_AutoDetectSourceLanguageResult
    assert result.properties[detected] == "de-DE"
    phrase = json.loads(result.json)["SpeechPhrase"]
    assert phrase["PrimaryLanguage"] == {"Language": "de-DE", "Confidence": "High"}


def test_js_detailed_words_and_identified_languages(
    node: str, service: Service, pcm_file: Callable[..., str]
) -> None:
    scripted, url = service.scripted, service.url
    audio = pcm_file(pcm=_two_questions())
    detailed = run_js(
        node,
        {
            "kind": "speech",
            "host": url,
            "key": service.key(WEATHER),
            "detailed": True,
            "properties": {"SpeechServiceResponse_RequestWordLevelTimestamps": "true"},
            "audio": audio,
        },
    )
    finals = [r for r in js_named(detailed, "recognized") if r["text"]]
    assert len(finals) == 2
    for final in finals:
        _check_words(json.loads(final["json"]), final["offset"], final["duration"])

    identified = run_js(
        node,
        {
            "kind": "translation",
            "host": url,
            "key": service.key(BILINGUAL),
            "targets": ["fr"],
            "autoDetect": ["de-DE", "en-US"] if scripted else ["en-US", "de-DE"],
            "lidMode": "Continuous",
            "audio": audio,
        },
    )
    languages = [r["language"] for r in js_named(identified, "recognized") if r["text"]]
    assert languages == (["de-DE", "en-US"] if scripted else ["en-US", "en-US"])
