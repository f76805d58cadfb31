"""Drive the real Azure Speech SDK against a local Speech service and record its events.

Used by tests that talk to the local Speech service directly (without the shim). It follows
the shutdown order of usp-speech-service.md §10 so no test process aborts at exit.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import azure.cognitiveservices.speech as speechsdk

SIGNALS = (
    "session_started",
    "session_stopped",
    "recognizing",
    "recognized",
    "synthesizing",
    "canceled",
    "speech_start_detected",
    "speech_end_detected",
)

FAST = {
    # The SDK throttles push-stream audio to 2x real time after 5 s; tests need not wait.
    "SPEECH-AudioThrottleAsPercentageOfRealTime": "100000",
    "SPEECH-TransmitLengthBeforeThrottleMs": "3600000",
    "SPEECH-StopRecognitionTimeoutInSeconds": "2",
}


@dataclass
class Event:
    name: str
    at: float
    reason: str = ""
    text: str = ""
    translations: dict[str, str] = field(default_factory=dict)
    offset: int = 0
    duration: int = 0
    audio: bytes = b""
    code: str = ""
    details: str = ""
    no_match_reason: str = ""


def _event(name: str, args: Any, started: float) -> Event:
    event = Event(name, time.monotonic() - started)
    result = getattr(args, "result", None)
    if name == "canceled":
        details = args.cancellation_details
        event.reason = details.reason.name
        event.code = details.code.name
        event.details = details.error_details or ""
    elif result is not None and name in ("recognizing", "recognized"):
        event.reason = result.reason.name
        event.text = result.text
        event.translations = dict(getattr(result, "translations", {}) or {})
        event.offset, event.duration = result.offset, result.duration
        if result.reason == speechsdk.ResultReason.NoMatch:
            event.no_match_reason = result.no_match_details.reason.name
    elif result is not None and name == "synthesizing":
        event.reason = result.reason.name
        event.audio = bytes(result.audio)
    elif name in ("speech_start_detected", "speech_end_detected"):
        event.offset = args.offset
    return event


def set_properties(config: Any, properties: dict[str, str]) -> None:
    """``PropertyId`` names through ``set_property``; anything else by its native name."""
    for name, value in properties.items():
        if name in speechsdk.PropertyId.__members__:
            config.set_property(speechsdk.PropertyId[name], value)
        else:
            config.set_property_by_name(name, value)


def translation_config(
    url: str,
    key: str,
    language: str,
    targets: list[str],
    voice: str | None = None,
    properties: dict[str, str] | None = None,
) -> speechsdk.translation.SpeechTranslationConfig:
    config = speechsdk.translation.SpeechTranslationConfig(host=url, subscription=key)
    config.speech_recognition_language = language
    for target in targets:
        config.add_target_language(target)
    if voice:
        config.voice_name = voice
    set_properties(config, {**FAST, **(properties or {})})
    return config


def run_continuous(
    recognizer: Any,
    stream: speechsdk.audio.PushAudioInputStream,
    pcm: bytes,
    chunk: int = 3200,
    pace: float = 0.0,
    timeout: float = 60.0,
) -> list[Event]:
    """Push ``pcm``, close the stream, wait for the session to stop; then shut down safely."""
    events: list[Event] = []
    lock = threading.Lock()
    stopped = threading.Event()
    started = time.monotonic()

    def handler(name: str) -> Any:
        def on_event(args: Any) -> None:
            # The SDK swallows exceptions raised in handlers: record them as events instead.
            try:
                event = _event(name, args, started)
            except Exception as exc:  # pragma: no cover - surfaced by the assertions
                event = Event("handler_error", time.monotonic() - started, details=repr(exc))
            with lock:
                events.append(event)
            if name == "session_stopped":
                stopped.set()

        return on_event

    for name in SIGNALS:
        if hasattr(recognizer, name):
            getattr(recognizer, name).connect(handler(name))
    try:
        recognizer.start_continuous_recognition_async().get()
        for i in range(0, len(pcm), chunk):
            stream.write(pcm[i : i + chunk])
            if pace:
                time.sleep(pace)
        stream.close()
        stopped.wait(timeout)
        recognizer.stop_continuous_recognition_async().get()
    finally:
        for name in SIGNALS:
            if hasattr(recognizer, name):
                getattr(recognizer, name).disconnect_all()
    with lock:
        return list(events)


def translate_continuous(
    url: str,
    key: str,
    pcm: bytes,
    *,
    language: str = "en-US",
    targets: list[str] | None = None,
    voice: str | None = None,
    properties: dict[str, str] | None = None,
    chunk: int = 3200,
    pace: float = 0.0,
    timeout: float = 60.0,
    stream_format: speechsdk.audio.AudioStreamFormat | None = None,
) -> list[Event]:
    """``pcm`` in ``stream_format`` (the SDK's default, 16 kHz mono 16-bit, if None)."""
    config = translation_config(url, key, language, targets or ["de"], voice, properties)
    stream = speechsdk.audio.PushAudioInputStream(stream_format=stream_format)
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    try:
        return run_continuous(recognizer, stream, pcm, chunk, pace, timeout)
    finally:
        del recognizer


def recognize_continuous(
    url: str,
    key: str,
    pcm: bytes,
    *,
    language: str = "en-US",
    properties: dict[str, str] | None = None,
    detailed: bool = False,
    timeout: float = 60.0,
) -> list[Event]:
    """A plain ``SpeechRecognizer`` in continuous mode (the conversation endpoint)."""
    config = speechsdk.SpeechConfig(host=url, subscription=key)
    config.speech_recognition_language = language
    if detailed:
        config.output_format = speechsdk.OutputFormat.Detailed
    set_properties(config, {**FAST, **(properties or {})})
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.SpeechRecognizer(
        speech_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    try:
        return run_continuous(recognizer, stream, pcm, timeout=timeout)
    finally:
        del recognizer


def named(events: list[Event], name: str, reason: str | None = None) -> list[Event]:
    return [e for e in events if e.name == name and (reason is None or e.reason == reason)]
