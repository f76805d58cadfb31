"""A Speech resource probed: does it take a session's connection, with its key, now?

The pool (``shim/server/placement.py``) probes a resource whose cooldown is over rather than
wait for a session to find out (with ``/readyz`` at 503 none would come). A probe does what a
session's recognizer does first and nothing more: a throwaway TranslationRecognizer on the
resource's config opens its connection (``Connection.open``: the WebSocket upgrade with the
key, then ``speech.config``) and is closed again. No turn starts and no audio is sent, so
nothing is billed. The SDK's own retries are off (``SPEECH-Error-MaxRetryCount`` 0): the
first refusal is the verdict, and its CancellationErrorCode says what kind. What a probe
cannot see: a service that takes connections but then stalls (USP does not answer
``speech.config``). Sessions find that out (the watchdog's stall strikes cool it down again;
their sessions move).

The blocking SDK calls run in the runtime's probe threads (two: a hanging resource never
holds up a session's start), each probe bounded by ``timeout``; the callbacks are
disconnected before the recognizer is released (usp-speech-service.md §10).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import Any

import azure.cognitiveservices.speech as speechsdk

from shim.speech.bridge import Backend, SessionOptions, translation_config
from shim.speech.runtime import SpeechRuntime

PROBE_TIMEOUT = 10.0  # seconds a connection may take before the probe counts as stalled
_OPTIONS = SessionOptions("en-US", "de", None, "Masked")  # no turn starts: any pair will do


@dataclass(frozen=True)
class ProbeResult:
    connected: bool
    code: str | None  # refused: the SDK's CancellationErrorCode name; None: connected, or no
    # answer within the timeout


async def probe(
    backend: Backend, runtime: SpeechRuntime, timeout: float = PROBE_TIMEOUT
) -> ProbeResult:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(runtime.probes, _probe_blocking, backend, timeout)


def _probe_blocking(backend: Backend, timeout: float) -> ProbeResult:
    config = translation_config(backend, _OPTIONS)
    config.set_property_by_name("SPEECH-Error-MaxRetryCount", "0")
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    connection = speechsdk.Connection.from_recognizer(recognizer)
    verdicts: list[ProbeResult] = []
    answered = threading.Event()

    def connected(_args: Any) -> None:
        verdicts.append(ProbeResult(True, None))
        answered.set()

    def canceled(args: Any) -> None:
        verdicts.append(ProbeResult(False, args.cancellation_details.code.name))
        answered.set()

    connection.connected.connect(connected)
    recognizer.canceled.connect(canceled)
    try:
        connection.open(True)
        answered.wait(timeout)
    finally:
        connection.connected.disconnect_all()
        recognizer.canceled.disconnect_all()
        with contextlib.suppress(Exception):  # a refused connection cannot be closed
            connection.close()
        stream.close()
        del connection, recognizer
    return verdicts[0] if verdicts else ProbeResult(False, None)
