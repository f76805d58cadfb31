"""The native event path's own rules: every handle released, no exception into the SDK,
no partials unless asked."""

from __future__ import annotations

import logging
import threading
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import pytest

from shim.speech import native_events, public_events
from shim.speech.event_path import Listener, PathName
from shim.speech.events import BridgeEvent, Canceled, Recognized, Recognizing, Stopped
from shim.speech.path_choice import choose_event_path
from shim.speech.runtime import SpeechRuntime
from tests.support.bridge_sessions import run_bridge_session
from tests.support.paths import read_pcm
from tests.support.processes import Emulator
from tests.support.sdk_harness import translation_config

pytestmark = pytest.mark.e2e

SCENARIO = {
    "utterances": [
        {"offset_ms": 1060, "duration_ms": 780, "text": "Good morning, Steve."},
        {"offset_ms": 2670, "duration_ms": 640, "text": "Good morning."},
    ],
    "synthesis": {"engine": "tone", "chunk_ms": 300},
}
AUDIO_MS = 3_600
UNREADABLE_FINAL = Canceled(
    "Error", "RuntimeError", "the Speech SDK's recognized event could not be read"
)


async def test_every_event_and_result_handle_is_released_once_handled(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[int] = []
    results: list[int] = []
    live_while_handled: list[bool] = []
    dispatch, reader_init = native_events._dispatch, native_events._Reader.__init__

    def recording_dispatch(signal: str, event: int | None, context: int | None) -> None:
        assert event
        events.append(event)
        live_while_handled.append(native_events._api().recognizer_event_handle_is_valid(event))
        dispatch(signal, event, context)

    def recording_init(self: Any, api: Any, result: int) -> None:
        results.append(result)
        reader_init(self, api, result)

    path = choose_event_path("fast")  # before recording: its self-test has events of its own
    assert path.name is PathName.FAST
    monkeypatch.setattr(native_events, "_dispatch", recording_dispatch)
    monkeypatch.setattr(native_events._Reader, "__init__", recording_init)
    pcm = read_pcm("en-US_katie-steve-conversation.wav")[: AUDIO_MS * 32]
    runtime = SpeechRuntime()
    try:
        delivered = await run_bridge_session(
            emulator.url, emulator.scenario(SCENARIO), pcm, path, runtime, voice="de-DE-KatjaNeural"
        )
    finally:
        await runtime.close()

    api = native_events._api()
    assert len(events) == len(delivered) and all(live_while_handled)
    assert len(results) == len(delivered) - 1  # every event but session_stopped has a result
    assert not [e for e in events if api.recognizer_event_handle_is_valid(e)]
    assert not [r for r in results if api.recognizer_result_handle_is_valid(r)]


def test_an_exception_in_delivery_is_logged_and_later_events_still_arrive(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=translation_config(
            emulator.url, emulator.scenario(SCENARIO), "en-US", ["de"]
        ),
        audio_config=speechsdk.audio.AudioConfig(stream=stream),
    )
    received: list[BridgeEvent] = []
    stopped = threading.Event()

    def deliver(event: BridgeEvent) -> None:
        if isinstance(event, Recognized) and not received:
            received.append(event)
            raise RuntimeError("a sink that fails once")
        received.append(event)
        if isinstance(event, Stopped):
            stopped.set()

    subscription = native_events.connect(
        recognizer, Listener("de", deliver, "raising", partials=False)
    )
    try:
        with caplog.at_level(logging.ERROR, logger="shim.speech"):
            recognizer.start_continuous_recognition_async().get()
            stream.write(read_pcm("en-US_katie-steve-conversation.wav")[: AUDIO_MS * 32])
            stream.close()
            assert stopped.wait(30)
        recognizer.stop_continuous_recognition_async().get()
    finally:
        subscription.disconnect()
        del recognizer
    finals = [e.text for e in received if isinstance(e, Recognized)]
    assert finals == ["Good morning, Steve.", "Good morning."]  # the first one raised
    # ... and the session was told that one was lost: it cannot end as if nothing were.
    assert next(e for e in received if isinstance(e, Canceled)) == UNREADABLE_FINAL
    assert not any(isinstance(e, Recognizing) for e in received)  # partials=False
    assert "failed to handle SDK recognized event" in caplog.text
    assert "a sink that fails once" in caplog.text


def test_an_event_the_library_cannot_read_reaches_the_session_as_an_error_on_either_path(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A cancellation or final lost in reading would let a session that owed it end 1000:
    it arrives as an error instead (a pooled session moves, others end 1011). A partial is
    not owed: losing one is only logged."""
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=translation_config(
            emulator.url, emulator.scenario(SCENARIO), "en-US", ["de"]
        ),
        audio_config=speechsdk.audio.AudioConfig(stream=speechsdk.audio.PushAudioInputStream()),
    )
    received: list[BridgeEvent] = []
    subscription = native_events.connect(recognizer, Listener("de", received.append, "x"))
    not_a_handle = 12_345  # what the native library refuses to read
    try:
        with caplog.at_level(logging.ERROR, logger="shim.speech"):
            for signal in ("canceled", "recognized", "recognizing"):
                native_events._dispatch(signal, not_a_handle, subscription._key)
                public_events._handler(signal, "de", received.append, "x")(object())
    finally:
        subscription.disconnect()
        del recognizer
    lost = [
        f"the Speech SDK's {signal} event could not be read"
        for signal in ("canceled", "recognized")
    ]
    assert received == [Canceled("Error", "RuntimeError", why) for why in lost for _ in "np"]
    assert caplog.text.count("failed to handle SDK recognizing event") == 2
