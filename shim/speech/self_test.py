"""An event path's check before a process trusts it: one real recognizer, one loopback stub.

The fast path reads events through C signatures declared by hand for the pinned SDK; a
wrong one reads garbage (or crashes, which the pinned-version rule in ``path_choice``
guards against). :func:`run` aims a ``TranslationRecognizer`` at a stub on 127.0.0.1 that
answers the SDK's WebSocket upgrade with ``400 Bad Request``, connects the path, and
checks:

* the version the SDK's native library announces in its ``User-Agent`` is the expected one
  (the loaded library's own word, not the Python package's metadata);
* the path connects and its first event is ``Canceled("Error", "BadRequest", details)``
  whose details name the connection id the stub saw on the wire: an enum pair and a string
  read through the native result and property bag, checked against what the library sent;
* the path disconnects.

It takes about 15 ms. It covers connect, the callback registry, the result, enum and
property-bag reads and disconnect; the text and translation readers are the pinned
version's (and ``tests/e2e/test_sdk_event_paths.py`` compares them with the public path).
Plain sockets: the stub reads one request's headers and answers once.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading

import azure.cognitiveservices.speech as speechsdk

from shim.speech.event_path import PINNED_SDK_VERSION, Connect, Listener, Subscription
from shim.speech.events import BridgeEvent, Canceled

REQUEST_LIMIT = 16384  # bytes of the upgrade request the stub reads at most
TIMEOUT_SECONDS = 5.0  # for the stub's accept and the event: on loopback it takes ms
_REFUSAL = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_AGENT = re.compile(r"SpeechSDK-[\w.]+/(\S+)")


class _Stub:
    """A loopback listener answering one WebSocket upgrade with 400; keeps its headers."""

    def __init__(self, timeout: float) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(timeout)
        self.port: int = self._listener.getsockname()[1]
        self.headers: dict[str, str] = {}
        self._thread = threading.Thread(target=self._answer, name="sdk-self-test", daemon=True)
        self._thread.start()

    def _answer(self) -> None:
        with contextlib.suppress(OSError):
            connection, _ = self._listener.accept()
            with connection:
                connection.settimeout(self._listener.gettimeout())
                request = b""
                while b"\r\n\r\n" not in request and len(request) < REQUEST_LIMIT:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                self.headers = _headers(request)
                connection.sendall(_REFUSAL)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes an accept still waiting (Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join()


def _headers(request: bytes) -> dict[str, str]:
    lines = request.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def run(
    connect: Connect,
    *,
    expected_version: str | None = PINNED_SDK_VERSION,
    timeout: float = TIMEOUT_SECONDS,
) -> str | None:
    """None when ``connect`` passed; otherwise why not, in a few words for the log.
    ``expected_version`` None: the library's announced version is not checked."""
    stub = _Stub(timeout)
    events: list[BridgeEvent] = []
    arrived = threading.Event()

    def deliver(event: BridgeEvent) -> None:
        events.append(event)
        arrived.set()

    config = speechsdk.translation.SpeechTranslationConfig(
        host=f"ws://127.0.0.1:{stub.port}", subscription="self-test"
    )
    config.speech_recognition_language = "en-US"
    config.add_target_language("de")
    config.set_property_by_name("SPEECH-StopRecognitionTimeoutInSeconds", "1")
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    subscription: Subscription | None = None
    try:
        try:
            subscription = connect(recognizer, Listener("de", deliver, "self-test"))
        except Exception as exc:
            return f"connecting failed ({exc})"
        recognizer.start_continuous_recognition_async().get()
        arrived.wait(timeout)
    finally:
        stream.close()
        with contextlib.suppress(Exception):
            recognizer.stop_continuous_recognition_async().get()
        if subscription is not None:
            subscription.disconnect()
        del recognizer
        stub.close()
    return _verdict(events, stub.headers, expected_version, timeout)


def _verdict(
    events: list[BridgeEvent],
    headers: dict[str, str],
    expected_version: str | None,
    timeout: float,
) -> str | None:
    agent = _AGENT.search(headers.get("user-agent", ""))
    announced = agent.group(1) if agent else "none"
    if expected_version is not None and announced != expected_version:
        return f"the native library announces SDK {announced}, not {expected_version}"
    if not events:
        return f"no event within {timeout:g} s"
    first = events[0]
    connection_id = headers.get("x-connectionid", "")
    if (
        not isinstance(first, Canceled)
        or (first.reason, first.code) != ("Error", "BadRequest")
        or not connection_id
        or connection_id not in first.details
    ):
        return f"read {first!r} where a refused connection {connection_id!r} was expected"
    return None
