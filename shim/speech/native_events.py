"""The recognizer's events read through the Speech SDK's own native library, field by field.

For every ``recognizing``/``recognized`` event the SDK's Python layer builds a full result
object, reading all ~117 ``PropertyId`` values through ctypes (~0.8 ms of CPU each). The
legacy protocol needs a handful of fields, so this path registers its own callbacks with the
same native functions the Python layer uses (``recognizer_*_set_callback``,
``translator_synthesizing_audio_set_callback``) and reads only those: reason, offset,
duration, text and the one target's translation; NoMatch reason; synthesis audio;
cancellation reason, code and details. The values are exactly the ``public_events`` ones.

Hand-written ctypes because no library wraps the SDK's C API except the SDK's own Python
layer, whose cost is the point. It depends on that layer's private parts (the library path,
``Recognizer._handle``) and on the C signatures of the pinned SDK: ``path_choice`` uses this
path only when the installed SDK is the pinned version (or the operator opted in), every
symbol is there and the path passes its ``self_test``.

Rules kept (usp-speech-service.md §10 and the SDK's own handle discipline):

* Every handle a callback gets or obtains is released: the event, its result, the result's
  property bag, strings the library allocated.
* The callback functions are module-level ``CFUNCTYPE`` objects that live as long as the
  process; the context the library hands back is a plain integer key into a registry of
  weak references, never a pointer to a Python object, so a callback that arrives after
  ``disconnect`` (or after the subscription was collected) only releases its handle.
* Nothing raises into native code: each callback catches everything and logs it.
* ``disconnect`` clears each native callback (``set_callback(handle, NULL, NULL)``): the
  same §10 step 4 as ``disconnect_all``. The subscription keeps the recognizer alive until
  then, and a subscription collected without ``disconnect`` disconnects itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import logging
import threading
import weakref
from typing import Any

import azure.cognitiveservices.speech as speechsdk
from azure.cognitiveservices.speech import interop

from shim.speech.event_path import SIGNALS, Listener, unreadable
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

TEXT_BYTES = 2048  # what the SDK's Python layer reads of a result's text (RecognitionResult)

_Handle = ctypes.c_void_p
_HR = ctypes.c_size_t  # SPXHR
_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_NO_CALLBACK = _CALLBACK()  # a NULL function pointer: "no callback"

# signal -> the native function that (un)registers its callback
SETTERS = {
    "recognizing": "recognizer_recognizing_set_callback",
    "recognized": "recognizer_recognized_set_callback",
    "synthesizing": "translator_synthesizing_audio_set_callback",
    "canceled": "recognizer_canceled_set_callback",
    "session_stopped": "recognizer_session_stopped_set_callback",
}
assert tuple(SETTERS) == SIGNALS, "a setter for every signal of the contract"

_R = speechsdk.ResultReason
_NO_MATCH = _R.NoMatch.value
_MATCHED = (_R.TranslatedSpeech.value, _R.RecognizedSpeech.value)
_SYNTHESIZING = _R.SynthesizingAudio.value
_SYNTHESIZED = _R.SynthesizingAudioCompleted.value
_SILENCE = (
    speechsdk.NoMatchReason.InitialSilenceTimeout.value,
    speechsdk.NoMatchReason.InitialBabbleTimeout.value,
)
_ERROR_DETAILS = speechsdk.PropertyId.SpeechServiceResponse_JsonErrorDetails.value

# name -> (restype, argtypes), as declared in the SDK's C headers (speechapi_c_*.h)
_P = ctypes.POINTER
_FUNCTIONS: dict[str, tuple[Any, tuple[Any, ...]]] = {
    **{setter: (_HR, (_Handle, _CALLBACK, ctypes.c_void_p)) for setter in SETTERS.values()},
    "recognizer_handle_is_valid": (ctypes.c_bool, (_Handle,)),
    "recognizer_event_handle_is_valid": (ctypes.c_bool, (_Handle,)),
    "recognizer_event_handle_release": (_HR, (_Handle,)),
    "recognizer_recognition_event_get_result": (_HR, (_Handle, _P(_Handle))),
    "recognizer_result_handle_is_valid": (ctypes.c_bool, (_Handle,)),
    "recognizer_result_handle_release": (_HR, (_Handle,)),
    "result_get_reason": (_HR, (_Handle, _P(ctypes.c_int))),
    "result_get_offset": (_HR, (_Handle, _P(ctypes.c_uint64))),
    "result_get_duration": (_HR, (_Handle, _P(ctypes.c_uint64))),
    "result_get_text": (_HR, (_Handle, ctypes.c_char_p, ctypes.c_uint32)),
    "result_get_no_match_reason": (_HR, (_Handle, _P(ctypes.c_int))),
    "result_get_reason_canceled": (_HR, (_Handle, _P(ctypes.c_int))),
    "result_get_canceled_error_code": (_HR, (_Handle, _P(ctypes.c_int))),
    "result_get_property_bag": (_HR, (_Handle, _P(_Handle))),
    "property_bag_is_valid": (ctypes.c_bool, (_Handle,)),
    "property_bag_get_string": (
        ctypes.c_void_p,
        (_Handle, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p),
    ),
    "property_bag_free_string": (_HR, (ctypes.c_void_p,)),
    "property_bag_release": (_HR, (_Handle,)),
    "translation_text_result_get_translation_count": (_HR, (_Handle, _P(ctypes.c_size_t))),
    "translation_text_result_get_translation": (
        _HR,
        (
            _Handle,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_char_p,
            _P(ctypes.c_size_t),
            _P(ctypes.c_size_t),
        ),
    ),
    "translation_synthesis_result_get_audio_data": (
        _HR,
        (_Handle, ctypes.c_char_p, _P(ctypes.c_size_t)),
    ),
}
REQUIRED_SYMBOLS = tuple(_FUNCTIONS)


def library_path() -> str:
    """The native core the SDK's Python layer loaded (a private attribute of its interop)."""
    return str(interop.lib_path)


def missing_symbols(path: str | None = None) -> list[str]:
    """The functions this path needs that the native library does not export."""
    library = ctypes.CDLL(path or library_path())
    return [name for name in REQUIRED_SYMBOLS if not hasattr(library, name)]


class _NativeError(RuntimeError):
    pass


class _Api:
    """Our own prototypes of the library's functions.

    A separate ``CDLL`` object: the library is loaded once by the process, but these
    function objects are ours, so declaring their argument types cannot change how the
    SDK's Python layer (which sets ``restype`` on its own objects per call) calls them.
    """

    def __init__(self, path: str) -> None:
        library = ctypes.CDLL(path)
        for name, (restype, argtypes) in _FUNCTIONS.items():
            function = getattr(library, name)
            function.restype = restype
            function.argtypes = argtypes
            setattr(self, name, function)

    def __getattr__(self, name: str) -> Any:  # for the type checker: set in __init__
        raise AttributeError(name)


@functools.cache
def _api() -> _Api:
    return _Api(library_path())


def _check(hr: int, what: str) -> None:
    if hr:
        raise _NativeError(f"{what} failed: SPXHR 0x{hr:x}")


# ---- reading one event -----------------------------------------------------------------------


class _Reader:
    """Reads the fields the bridge needs from one result handle."""

    def __init__(self, api: _Api, result: int) -> None:
        self._api = api
        self._result = result

    def reason(self) -> int:
        value = ctypes.c_int(0)
        _check(self._api.result_get_reason(self._result, ctypes.byref(value)), "reason")
        return value.value

    def offset(self) -> int:
        value = ctypes.c_uint64(0)
        _check(self._api.result_get_offset(self._result, ctypes.byref(value)), "offset")
        return value.value

    def duration(self) -> int:
        value = ctypes.c_uint64(0)
        _check(self._api.result_get_duration(self._result, ctypes.byref(value)), "duration")
        return value.value

    def text(self) -> str:
        buffer = ctypes.create_string_buffer(TEXT_BYTES + 1)
        _check(self._api.result_get_text(self._result, buffer, TEXT_BYTES), "text")
        return buffer.value.decode("utf-8", errors="replace")

    def translation(self, target: str) -> str:
        """The target's translation, "" when there is none (as ``translations.get``)."""
        api, result = self._api, self._result
        count = ctypes.c_size_t(0)
        _check(
            api.translation_text_result_get_translation_count(result, ctypes.byref(count)),
            "translation count",
        )
        found = ""
        wanted = target.encode()
        for index in range(count.value):
            lang_size, text_size = ctypes.c_size_t(0), ctypes.c_size_t(0)
            _check(
                api.translation_text_result_get_translation(
                    result, index, None, None, ctypes.byref(lang_size), ctypes.byref(text_size)
                ),
                "translation size",
            )
            lang = ctypes.create_string_buffer(lang_size.value)
            text = ctypes.create_string_buffer(text_size.value)
            _check(
                api.translation_text_result_get_translation(
                    result, index, lang, text, ctypes.byref(lang_size), ctypes.byref(text_size)
                ),
                "translation",
            )
            if lang.value == wanted:  # the last one wins, as in a dict of them
                found = text.value.decode("utf-8", errors="replace")
        return found

    def no_match_reason(self) -> int:
        value = ctypes.c_int(0)
        _check(
            self._api.result_get_no_match_reason(self._result, ctypes.byref(value)),
            "no-match reason",
        )
        return value.value

    def audio(self) -> bytes:
        api, result = self._api, self._result
        size = ctypes.c_size_t(0)
        api.translation_synthesis_result_get_audio_data(result, None, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        _check(
            api.translation_synthesis_result_get_audio_data(result, buffer, ctypes.byref(size)),
            "audio",
        )
        return buffer.raw  # all of it, as the SDK's Python layer returns it

    def cancellation(self) -> Canceled:
        api, result = self._api, self._result
        reason, code = ctypes.c_int(0), ctypes.c_int(0)
        _check(api.result_get_reason_canceled(result, ctypes.byref(reason)), "cancel reason")
        _check(api.result_get_canceled_error_code(result, ctypes.byref(code)), "cancel code")
        return Canceled(
            _enum_name(speechsdk.CancellationReason, reason.value),
            _enum_name(speechsdk.CancellationErrorCode, code.value),
            self._error_details(),
        )

    def _error_details(self) -> str:
        api = self._api
        bag = _Handle()
        _check(api.result_get_property_bag(self._result, ctypes.byref(bag)), "property bag")
        try:
            pointer = api.property_bag_get_string(bag, _ERROR_DETAILS, None, b"")
            if not pointer:
                return ""
            try:
                return ctypes.string_at(pointer).decode("utf-8", errors="replace")
            finally:
                api.property_bag_free_string(pointer)
        finally:
            if api.property_bag_is_valid(bag):
                api.property_bag_release(bag)


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return f"Unknown{value}"


def _read(signal: str, reader: _Reader, target: str) -> BridgeEvent | None:
    """What ``public_events.convert`` makes of the same event, from the fields alone."""
    if signal == "recognizing":
        return Recognizing(
            reader.text(), reader.translation(target), reader.offset(), reader.duration()
        )
    if signal == "recognized":
        reason = reader.reason()
        if reason == _NO_MATCH:
            silence = reader.no_match_reason() in _SILENCE
            return Recognized(False, "", "", reader.offset(), reader.duration(), silence)
        if reason not in _MATCHED:
            return None
        text = reader.text()
        if not text:  # how continuous translation says silence: no NoMatch, no words
            return Recognized(False, "", "", reader.offset(), reader.duration(), silence=True)
        return Recognized(
            True, text, reader.translation(target), reader.offset(), reader.duration()
        )
    if signal == "synthesizing":
        reason = reader.reason()
        if reason == _SYNTHESIZING:
            return SynthesisAudio(reader.audio())
        if reason == _SYNTHESIZED:
            return SynthesisCompleted()
        return None
    if signal == "canceled":
        return reader.cancellation()
    return None


# ---- callbacks (SDK threads) ---------------------------------------------------------------

_registry: dict[int, weakref.ref[NativeSubscription]] = {}
_keys = itertools.count(1)


def _dispatch(signal: str, event: int | None, context: int | None) -> None:
    """Runs on an SDK thread for every event: read, deliver, release; never raises."""
    subscription: NativeSubscription | None = None
    try:
        ref = _registry.get(context or 0)
        subscription = ref() if ref is not None else None
        if subscription is not None and event:
            subscription._handle_event(signal, event)
    except BaseException:
        with contextlib.suppress(BaseException):
            log.exception("failed to handle SDK %s event", signal)
            if subscription is not None and (instead := unreadable(signal)) is not None:
                subscription._deliver(instead)
    finally:
        with contextlib.suppress(BaseException):
            if event:
                api = _api()
                if api.recognizer_event_handle_is_valid(event):
                    api.recognizer_event_handle_release(event)


def _callback(signal: str) -> Any:
    def on_event(recognizer: int | None, event: int | None, context: int | None) -> None:
        _dispatch(signal, event, context)

    return _CALLBACK(on_event)


# Module-level: the library may call them until the process ends, so they are never freed.
_CALLBACKS = {signal: _callback(signal) for signal in SIGNALS}


class NativeSubscription:
    """One recognizer's events, registered with the native library under an integer key."""

    def __init__(self, recognizer: Any, listener: Listener) -> None:
        self._api = _api()
        self._recognizer: Any = recognizer
        self._target = listener.target
        self._deliver = listener.deliver
        self._label = listener.label
        self._signals = listener.signals
        self._connected: list[str] = []
        self._lock = threading.Lock()
        self._key = next(_keys)
        _registry[self._key] = weakref.ref(self)  # before the first event can come

    def _connect(self) -> None:
        handle = self._recognizer._handle
        for signal in self._signals:
            setter = getattr(self._api, SETTERS[signal])
            _check(setter(handle, _CALLBACKS[signal], self._key), SETTERS[signal])
            self._connected.append(signal)

    def _handle_event(self, signal: str, event: int) -> None:
        api = self._api
        result = _Handle()
        if signal == "session_stopped":
            self._deliver(Stopped())
            return
        _check(api.recognizer_recognition_event_get_result(event, ctypes.byref(result)), "result")
        try:
            converted = _read(signal, _Reader(api, result.value or 0), self._target)
        finally:
            if api.recognizer_result_handle_is_valid(result):
                api.recognizer_result_handle_release(result)
        if converted is not None:
            self._deliver(converted)

    def disconnect(self) -> None:
        """Clear the native callbacks (§10 step 4) and let the recognizer go."""
        with self._lock:
            recognizer, self._recognizer = self._recognizer, None
            connected, self._connected = self._connected, []
        _registry.pop(self._key, None)
        if recognizer is None:
            return
        handle = recognizer._handle
        if not self._api.recognizer_handle_is_valid(handle):
            return  # already destroyed: its callbacks went with it
        for signal in connected:
            try:
                setter = getattr(self._api, SETTERS[signal])
                _check(setter(handle, _NO_CALLBACK, None), SETTERS[signal])
            except Exception:
                log.exception("session %s: disconnecting %s failed", self._label, signal)

    def __del__(self) -> None:
        with contextlib.suppress(BaseException):
            self.disconnect()


def connect(recognizer: Any, listener: Listener) -> NativeSubscription:
    """Register native callbacks for the listener's signals (``event_path.Connect``)."""
    subscription = NativeSubscription(recognizer, listener)
    try:
        subscription._connect()
    except BaseException:
        subscription.disconnect()
        raise
    return subscription
