"""The recognizer's events through the Speech SDK's public Python API (the fallback path).

Works with any SDK version: it only uses documented signals and result properties. Each
event costs what the SDK's Python layer spends building a full result object (it reads
every ``PropertyId`` through ctypes, ~0.8 ms of CPU per ``recognizing``/``recognized``);
``native_events`` reads the same fields at a fraction of that when the installed SDK is the
pinned one. Both produce exactly the same ``shim.speech.events`` values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import azure.cognitiveservices.speech as speechsdk

from shim.speech.event_path import Deliver, Listener, unreadable
from shim.speech.events import (
    BridgeEvent,
    Canceled,
    Recognized,
    Recognizing,
    Stopped,
    SynthesisAudio,
    SynthesisCompleted,
)

log = logging.getLogger("shim.speech")

_SILENCE = (
    speechsdk.NoMatchReason.InitialSilenceTimeout,
    speechsdk.NoMatchReason.InitialBabbleTimeout,
)


class PublicSubscription:
    """The signals connected on one recognizer; ``disconnect`` is §10 step 4."""

    def __init__(self, recognizer: Any, signals: tuple[str, ...]) -> None:
        self._recognizer: Any = recognizer
        self._signals = signals

    def disconnect(self) -> None:
        recognizer, self._recognizer = self._recognizer, None
        if recognizer is None:
            return
        for signal in self._signals:
            try:
                getattr(recognizer, signal).disconnect_all()
            except Exception:
                log.exception("disconnecting %s failed", signal)


def connect(recognizer: Any, listener: Listener) -> PublicSubscription:
    """Connect the listener's signals (``event_path.Connect``)."""
    for signal in listener.signals:
        handler = _handler(signal, listener.target, listener.deliver, listener.label)
        getattr(recognizer, signal).connect(handler)
    return PublicSubscription(recognizer, listener.signals)


def _handler(signal: str, target: str, deliver: Deliver, label: str) -> Callable[[Any], None]:
    def handle(args: Any) -> None:
        # The SDK swallows exceptions from handlers silently (spec §10): log them here.
        try:
            event = convert(signal, args, target)
            if event is not None:
                deliver(event)
        except Exception:
            log.exception("session %s: failed to handle SDK %s event", label, signal)
            if (instead := unreadable(signal)) is not None:
                deliver(instead)

    return handle


def convert(signal: str, args: Any, target: str) -> BridgeEvent | None:
    Reason = speechsdk.ResultReason
    if signal == "recognizing":
        result = args.result
        return Recognizing(
            result.text, result.translations.get(target, ""), result.offset, result.duration
        )
    if signal == "recognized":
        result = args.result
        if result.reason == Reason.NoMatch:
            details = result.no_match_details
            silence = details is not None and details.reason in _SILENCE
            return Recognized(False, "", "", result.offset, result.duration, silence)
        if result.reason not in (Reason.TranslatedSpeech, Reason.RecognizedSpeech):
            return None
        if not result.text:  # how continuous translation says silence: no NoMatch, no words
            return Recognized(False, "", "", result.offset, result.duration, silence=True)
        return Recognized(
            True, result.text, result.translations.get(target, ""), result.offset, result.duration
        )
    if signal == "synthesizing":
        result = args.result
        if result.reason == Reason.SynthesizingAudio:
            return SynthesisAudio(bytes(result.audio))
        if result.reason == Reason.SynthesizingAudioCompleted:
            return SynthesisCompleted()
        return None
    if signal == "canceled":
        details = args.cancellation_details
        return Canceled(details.reason.name, details.code.name, details.error_details or "")
    if signal == "session_stopped":
        return Stopped()
    return None
