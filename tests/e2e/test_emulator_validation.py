"""What the service does not have, answered as Azure answers it, with the real SDKs.

An unknown recognition language closes the connection with 1007 ("RecognizeOnce Bad
Language" in the JavaScript SDK's tests); an unknown target leaves the recognition standing
and fails its translation ("Translate Bad Language"); an unknown voice fails each synthesis
("TranslateVoiceInvalidVoice"). Checked against the bundled catalog, on both engines.
"""

from __future__ import annotations

from collections.abc import Callable

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support.js_sdk import named as js_named
from tests.support.js_sdk import run_js
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, Service
from tests.support.sdk_harness import FAST, named, set_properties, translate_continuous

pytestmark = pytest.mark.e2e

WEATHER_TEXT = "What's the weather like?"
WEATHER = {"utterances": [{"text": WEATHER_TEXT, "translations": {"de": "Wie ist das Wetter?"}}]}
NO_RETRY = {"SPEECH-Error-MaxRetryCount": "0"}


def _once(config: speechsdk.SpeechConfig, translation: bool) -> speechsdk.RecognitionResult:
    set_properties(config, {**FAST, **NO_RETRY})
    stream = speechsdk.audio.PushAudioInputStream()
    stream.write(read_pcm("en-US_whatstheweatherlike.wav") + bytes(32_000))
    stream.close()
    audio = speechsdk.audio.AudioConfig(stream=stream)
    recognizer = (
        speechsdk.translation.TranslationRecognizer(translation_config=config, audio_config=audio)
        if translation
        else speechsdk.SpeechRecognizer(speech_config=config, audio_config=audio)
    )
    try:
        return recognizer.recognize_once_async().get()
    finally:
        del recognizer


@pytest.mark.parametrize("translation", [False, True], ids=["speech", "translation"])
def test_python_an_unknown_recognition_language_closes_with_1007(
    service: Service, translation: bool
) -> None:
    url, key = service.url, service.key(WEATHER)
    if translation:
        config = speechsdk.translation.SpeechTranslationConfig(host=url, subscription=key)
        config.add_target_language("en")
    else:
        config = speechsdk.SpeechConfig(host=url, subscription=key)
    config.speech_recognition_language = "BadLanguage"
    result = _once(config, translation)
    assert result.reason == speechsdk.ResultReason.Canceled
    details = result.cancellation_details
    assert details.code == speechsdk.CancellationErrorCode.BadRequest
    assert "1007" in details.error_details
    assert "Unsupported locale: BadLanguage." in details.error_details


def test_python_an_unknown_target_fails_the_translation_not_the_recognition(
    service: Service,
) -> None:
    url, key = service.url, service.key(WEATHER)
    config = speechsdk.translation.SpeechTranslationConfig(host=url, subscription=key)
    config.speech_recognition_language = "en-US"
    config.add_target_language("zz")
    result = _once(config, translation=True)
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech
    assert "weather" in result.text.lower()
    assert dict(result.translations) == {}
    errors = result.properties.get(speechsdk.PropertyId.SpeechServiceResponse_JsonErrorDetails)
    assert "The target language is not valid: zz." in errors


def test_python_a_known_target_beside_an_unknown_one_is_not_translated_either(
    emulator: Emulator,
) -> None:
    """Translator refuses the whole request, so every target of the phrase fails."""
    events = translate_continuous(
        emulator.url,
        emulator.scenario(WEATHER),
        read_pcm("en-US_whatstheweatherlike.wav"),
        targets=["de", "zz"],
    )
    (final,) = named(events, "recognized")
    assert (final.reason, final.text, final.translations) == ("RecognizedSpeech", WEATHER_TEXT, {})
    partials = named(events, "recognizing")
    assert partials and all(p.translations == {} for p in partials)


def test_python_an_unknown_voice_fails_the_synthesis(service: Service) -> None:
    url, key = service.url, service.key(WEATHER)
    events = translate_continuous(
        url,
        key,
        read_pcm("en-US_whatstheweatherlike.wav"),
        targets=["en"],
        voice="en-US-NoSuchVoiceNeural",
        properties=NO_RETRY,
    )
    assert named(events, "recognized")[0].reason == "TranslatedSpeech"
    canceled = named(events, "canceled")
    assert canceled and (canceled[0].reason, canceled[0].code) == ("Error", "ServiceError")
    assert "Unsupported voice name en-US-NoSuchVoiceNeural" in canceled[0].details
    assert not [e for e in named(events, "synthesizing") if e.audio]


def test_js_the_sdks_own_bad_language_bad_target_and_bad_voice_cases(
    node: str, service: Service, pcm_file: Callable[..., str]
) -> None:
    url, key = service.url, service.key(WEATHER)
    audio = pcm_file("en-US_whatstheweatherlike.wav")
    common = {"host": url, "key": key, "audio": audio}

    bad_language = run_js(
        node, {**common, "kind": "speech", "mode": "once", "language": "BadLanguage"}
    )
    (canceled,) = js_named(bad_language, "canceled")
    assert (canceled["reason"], canceled["code"]) == ("Error", "BadRequestParameters")
    assert "1007" in canceled["details"]

    bad_target = run_js(node, {**common, "kind": "translation", "mode": "once", "targets": ["zz"]})
    (result,) = js_named(bad_target, "result")
    assert result["reason"] == "RecognizedSpeech"
    assert "weather" in result["text"].lower() and result["errorDetails"]

    bad_voice = run_js(
        node,
        {
            **common,
            "kind": "translation",
            "targets": ["en-US"],
            "voice": "Microsoft Server Speech Text to Speech Voice (BadVoice)",
        },
    )
    canceled = js_named(bad_voice, "canceled")[0]
    assert canceled["reason"] == "Error" and "BadVoice" in canceled["details"]
    assert all(
        s["reason"] == "Canceled" or not s["audio"] for s in js_named(bad_voice, "synthesizing")
    )


@pytest.mark.parametrize(
    ("voice", "known"),
    [
        ("invalid", False),
        ("Microsoft Server Speech Text to Speech Voice (en-US, AriaNeural)", True),
    ],
    ids=["unknown", "long-form-known"],
)
def test_python_speech_synthesis_in_an_unknown_voice_is_refused_with_1007(
    service: Service, voice: str, known: bool
) -> None:
    """sdk-js "synthesis with invalid voice name": a BadRequestParameters cancellation whose
    details name the voice; a known voice, even in its long form, is spoken."""
    config = speechsdk.SpeechConfig(
        host=service.url.replace("http", "ws", 1), subscription=service.key(WEATHER)
    )
    config.speech_synthesis_voice_name = voice
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    try:
        result = synthesizer.speak_text_async("hello world.").get()
    finally:
        del synthesizer
    if known:
        assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted
        assert len(result.audio_data) > 1000
        return
    assert result.reason == speechsdk.ResultReason.Canceled
    details = result.cancellation_details
    assert details.error_code == speechsdk.CancellationErrorCode.BadRequest
    assert "Unsupported voice name: invalid" in details.error_details
