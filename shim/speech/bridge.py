"""The Speech SDK bridge: one TranslationRecognizer per legacy session.

This is the project's only thread boundary. The SDK calls back on its own threads; each
callback copies what it needs into a plain event and queues it for the event loop, waking
the loop with ``call_soon_threadsafe`` only when nothing is queued yet (one wake-up per
batch: at hundreds of sessions, one per event overflows asyncio's self-pipe, which is also
the signal wake-up fd). Callbacks never block an SDK thread, and an exception in one is
logged, not swallowed by the SDK. ``PushAudioInputStream.write`` can block for tens of
milliseconds while the SDK's Python layer holds the GIL for long stretches (the ``public``
event path builds every result through ~117 ctypes calls), so with that path audio goes to
the SDK from a small pool, in order per session, never from the loop. With the ``fast``
path callbacks hold the GIL for microseconds and the loop writes directly: a pool thread's
wake-up per 100 ms chunk cost about a tenth of the shim's CPU (docs/performance.md).
Lifecycle calls that can block (start, stop, destruction) run in a small dedicated
executor, in the shutdown order of usp-speech-service.md §10.

Those executors and the registry of live recognizers belong to a
:class:`~shim.speech.runtime.SpeechRuntime` (``runtime``), which the app creates and closes.

Memory: audio waits in a session's outbox only until a pool thread hands it to the SDK; how
much audio a session may have outstanding is bounded by the session core's read-ahead
(:data:`shim.legacy.conduct.AUDIO_AHEAD_SECONDS`). Events wait in the inbox only until the
loop's next turn.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import azure.cognitiveservices.speech as speechsdk

from shim.speech.event_path import EventPath, Listener, Subscription
from shim.speech.events import BridgeEvent
from shim.speech.path_choice import default_event_path
from shim.speech.runtime import SpeechRuntime

log = logging.getLogger("shim.speech")


_PROFANITY = {
    "Raw": speechsdk.ProfanityOption.Raw,
    "Removed": speechsdk.ProfanityOption.Removed,
    "Masked": speechsdk.ProfanityOption.Masked,
}

# The SDK keeps written-but-unacknowledged audio up to this much (default 66 s) and ends the
# session beyond it; a legacy client may send minutes of audio in one message (AI4).
MAX_BUFFER_MS = "300000"


@dataclass(frozen=True)
class Backend:
    """Where the SDK connects: Azure (key + region), a host, or a full endpoint URL;
    ``properties`` go to the SDK's config, ``query`` onto the recognition URL."""

    key: str
    region: str | None = None
    host: str | None = None
    endpoint: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionOptions:
    source_locale: str
    target_language: str
    voice: str | None  # a neural voice: synthesis on; None: off
    profanity: str  # Raw, Removed, Masked, Tagged


def translation_config(
    backend: Backend, options: SessionOptions
) -> speechsdk.translation.SpeechTranslationConfig:
    """The SDK config of a session's TranslationRecognizer on ``backend``."""
    if backend.endpoint:
        config = speechsdk.translation.SpeechTranslationConfig(
            endpoint=backend.endpoint, subscription=backend.key
        )
    elif backend.host:
        config = speechsdk.translation.SpeechTranslationConfig(
            host=backend.host, subscription=backend.key
        )
    else:
        config = speechsdk.translation.SpeechTranslationConfig(
            subscription=backend.key, region=backend.region
        )
    config.speech_recognition_language = options.source_locale
    config.add_target_language(options.target_language)
    if options.voice:
        config.voice_name = options.voice
    if options.profanity in _PROFANITY:
        config.set_profanity(_PROFANITY[options.profanity])
    else:
        # No SDK enum value for Tagged; the property is forwarded as-is (SDK notes §C.2).
        config.set_property(speechsdk.PropertyId.SpeechServiceResponse_ProfanityOption, "Tagged")
    # Stop and destruction wait up to this long for the service (default 10 s). A session
    # stops its recognizer only after session_stopped, or when nobody wants more results (a
    # failure, a vanished client), so waiting longer never saves a result. (0 is avoided:
    # reported to crash under load, Azure-Samples/cognitive-services-speech-sdk#1061.)
    config.set_property_by_name("SPEECH-StopRecognitionTimeoutInSeconds", "1")
    config.set_property_by_name("SPEECH-MaxBufferSizeMs", MAX_BUFFER_MS)
    for name, value in backend.properties.items():
        config.set_property_by_name(name, value)
    for name, value in backend.query.items():
        config.set_service_property(name, value, speechsdk.ServicePropertyChannel.UriQueryParameter)
    return config


class SpeechSession:
    """One legacy connection's TranslationRecognizer, fed from the event loop."""

    def __init__(
        self,
        backend: Backend,
        options: SessionOptions,
        sink: Callable[[BridgeEvent, float], None],
        *,
        runtime: SpeechRuntime,
        loop: asyncio.AbstractEventLoop | None = None,
        request_id: str = "",
        on_connected: Callable[[], None] | None = None,
        events: EventPath | None = None,  # None: the process's (path_choice.use_event_path)
        write_inline: bool | None = None,  # False: audio always through the pool (shadows)
    ) -> None:
        """``sink(event, at)`` gets each event on the loop, with the monotonic time its SDK
        callback ran; ``on_connected`` is called on an SDK thread whenever the SDK's
        connection to the service opens (a session's first connection and each reconnect)."""
        self._runtime = runtime
        self._on_connected = on_connected
        self._connection: Any = None
        self._backend = backend
        self._options = options
        self._sink = sink
        self._loop = loop or asyncio.get_running_loop()
        self._request_id = request_id
        self._stream: speechsdk.audio.PushAudioInputStream | None = None
        self._recognizer: speechsdk.translation.TranslationRecognizer | None = None
        self._events = events or default_event_path()
        # module docstring; a shadow session never writes on the loop (it must not delay it)
        inline = self._events.inline_writes
        self._write_inline = inline if write_inline is None else write_inline and inline
        self._subscription: Subscription | None = None
        self._audio_closed = False
        self._closed = False
        # SDK threads → loop: events wait here; a wake-up is scheduled once per batch.
        self._inbox: collections.deque[tuple[BridgeEvent, float]] = collections.deque()
        self._inbox_lock = threading.Lock()
        self._wake_scheduled = False
        # loop → SDK: audio waits here for the pool, so writes keep their order.
        self._outbox: collections.deque[bytes | None] = collections.deque()  # None: end
        self._outbox_bytes = 0
        self._outbox_lock = threading.Lock()
        self._pumping = False
        self._pumped = threading.Event()
        self._pumped.set()

    # ---- SDK threads ---------------------------------------------------------------------
    def _deliver(self, event: BridgeEvent) -> None:
        at = time.monotonic()
        with self._inbox_lock:
            self._inbox.append((event, at))
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        # A closed loop means the process is going away: nothing left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_loop)

    def _on_loop(self) -> None:
        with self._inbox_lock:
            events = list(self._inbox)
            self._inbox.clear()
            self._wake_scheduled = False
        for event, at in events:
            self._sink(event, at)

    def _connected(self, _args: Any) -> None:
        try:
            if self._on_connected is not None:
                self._on_connected()
        except Exception:
            log.exception("session %s: connection callback failed", self._request_id)

    # ---- lifecycle (event loop) --------------------------------------------------------------
    async def start(self) -> None:
        self._runtime.register(self)  # before the SDK has threads: the safety net covers them
        await self._loop.run_in_executor(self._runtime.lifecycle, self._start_blocking)

    def _start_blocking(self) -> None:
        config = translation_config(self._backend, self._options)
        stream = speechsdk.audio.PushAudioInputStream()
        recognizer = speechsdk.translation.TranslationRecognizer(
            translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
        )
        # `recognizing` is connected even without partials: it is the backend's sign of life
        # during long utterances, which the session's watchdog needs.
        listener = Listener(self._options.target_language, self._deliver, self._request_id)
        self._subscription = self._events.connect(recognizer, listener)
        if self._on_connected is not None:
            connection = speechsdk.Connection.from_recognizer(recognizer)
            connection.connected.connect(self._connected)
            self._connection = connection
        self._stream, self._recognizer = stream, recognizer
        recognizer.start_continuous_recognition_async().get()

    def write(self, pcm: bytes) -> None:
        """16 kHz mono 16-bit PCM, handed to the SDK in order (module docstring: how)."""
        stream = self._stream
        if stream is None or self._audio_closed or not pcm:
            return
        if self._write_inline and not self._pumping:  # nothing queued ahead of it
            try:
                stream.write(pcm)
            except Exception:
                log.exception("session %s: writing audio to the SDK failed", self._request_id)
            return
        self._post(pcm)

    def end_audio(self) -> None:
        """No more audio: the SDK sends its end-of-audio and the service finishes the turn."""
        if self._stream is not None and not self._audio_closed:
            self._audio_closed = True
            self._post(None)

    @property
    def queued_bytes(self) -> int:
        """Audio written but not yet handed to the SDK (a shadow's measure of falling behind)."""
        return self._outbox_bytes

    def _post(self, item: bytes | None) -> None:
        with self._outbox_lock:
            self._outbox.append(item)
            self._outbox_bytes += len(item or b"")
            if self._pumping:
                return
            self._pumping = True
            self._pumped.clear()
        try:
            self._runtime.audio.submit(self._pump)
        except RuntimeError:  # the runtime is closing: nothing will read this audio
            with self._outbox_lock:
                self._outbox.clear()
                self._outbox_bytes = 0
                self._pumping = False
                self._pumped.set()

    def _pump(self) -> None:
        """Pool thread: write what is queued (joined: fewer SDK calls), close at the end."""
        stream = self._stream
        while True:
            with self._outbox_lock:
                items = list(self._outbox)
                self._outbox.clear()
                self._outbox_bytes = 0
                if not items:
                    self._pumping = False
                    self._pumped.set()
                    return
            pcm = b"".join(item for item in items if item is not None)
            try:
                if stream is not None and pcm:
                    stream.write(pcm)
                if stream is not None and items[-1] is None:
                    stream.close()
            except Exception:
                log.exception("session %s: writing audio to the SDK failed", self._request_id)

    async def close(self, *, abandon: bool = False) -> None:
        """Safe teardown (spec §10): stream closed, stop, disconnect handlers, release.

        ``abandon``: nobody wants the results any more (the client is gone). The handlers
        are disconnected at once and the rest of the teardown (which waits up to the stop
        timeout for a busy service, then closes the SDK's connection) goes on in the
        lifecycle pool without this session waiting for it; the runtime keeps the recognizer
        registered until it is done.
        """
        if self._closed:
            return
        self._closed = True
        if abandon:
            with self._outbox_lock:
                self._outbox.clear()  # unsent audio is nobody's any more
                self._outbox_bytes = 0
        self.end_audio()
        try:
            done = self._loop.run_in_executor(
                self._runtime.lifecycle, self._close_blocking, abandon
            )
        except RuntimeError:  # the runtime's pools are shut down: its close() stops us
            return
        if not abandon:
            await done

    def _close_blocking(self, abandon: bool) -> None:
        recognizer = self._recognizer
        if abandon and recognizer is not None:
            self._disconnect_events()  # no more events for a session that has ended
            self._disconnect_connection()
        self._pumped.wait(5.0)  # queued audio (and the stream's close) first
        self._recognizer = None
        if recognizer is not None:
            try:
                recognizer.stop_continuous_recognition_async().get()
            except Exception:
                log.exception("session %s: stopping the recognizer failed", self._request_id)
            self._disconnect_events()
            del recognizer
        self._disconnect_connection()
        self._stream = None
        self._runtime.unregister(self)

    def _disconnect_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.connected.disconnect_all()

    def _disconnect_events(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.disconnect()

    def emergency_stop(self) -> None:
        """Disconnect and stop at once, blocking (the runtime's §10 safety net)."""
        recognizer = self._recognizer
        if recognizer is not None:
            self._disconnect_events()
            self._disconnect_connection()
            with contextlib.suppress(Exception):
                recognizer.stop_continuous_recognition_async().get()
