"""A final's translation spoken once more, on another Speech resource.

When a session moves while a final's speech was still arriving, the session core asks for it
again (:class:`shim.legacy.conduct.Resynthesize`): the text goes to a one-shot
SpeechSynthesizer on the new resource, in the session's voice, as 16 kHz mono 16-bit PCM
(the legacy TTS message's format). A final's speech is seconds long: it comes back whole.

The blocking SDK calls run in the runtime's lifecycle pool. The first audio must come
within ``timeout`` (the SDK's first-chunk timeout), and the whole within ``timeout`` too,
after which the synthesis is stopped; the callbacks are disconnected before the synthesizer
is released (usp-speech-service.md §10). A recognition endpoint URL has no synthesis path:
for a resource given as ``endpoint`` its scheme and host are used as the synthesis host.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import azure.cognitiveservices.speech as speechsdk

from shim.speech.bridge import Backend
from shim.speech.runtime import SpeechRuntime


@dataclass(frozen=True)
class Spoken:
    audio: bytes | None  # 16 kHz mono 16-bit PCM; None: it failed
    code: str = ""  # failed: the SDK's CancellationErrorCode name ("ServiceTimeout": no answer)


async def speak(
    backend: Backend, voice: str, text: str, runtime: SpeechRuntime, timeout: float
) -> Spoken:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        runtime.lifecycle, _speak_blocking, backend, voice, text, timeout
    )


def _config(backend: Backend) -> speechsdk.SpeechConfig:
    if backend.endpoint:
        parts = urllib.parse.urlsplit(backend.endpoint)
        config = speechsdk.SpeechConfig(
            host=f"{parts.scheme}://{parts.netloc}", subscription=backend.key
        )
    elif backend.host:
        config = speechsdk.SpeechConfig(host=backend.host, subscription=backend.key)
    else:
        config = speechsdk.SpeechConfig(subscription=backend.key, region=backend.region)
    for name, value in backend.properties.items():
        config.set_property_by_name(name, value)
    return config


def _speak_blocking(backend: Backend, voice: str, text: str, timeout: float) -> Spoken:
    config = _config(backend)
    config.speech_synthesis_voice_name = voice
    config.set_speech_synthesis_output_format(
        speechsdk.SpeechSynthesisOutputFormat.Raw16Khz16BitMonoPcm
    )
    config.set_property_by_name("SpeechSynthesis_FirstChunkTimeoutMs", str(int(timeout * 1000)))
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    outcomes: list[Spoken] = []
    done = threading.Event()

    def completed(args: Any) -> None:
        outcomes.append(Spoken(bytes(args.result.audio_data)))
        done.set()

    def canceled(args: Any) -> None:
        details = args.result.cancellation_details
        outcomes.append(Spoken(None, details.error_code.name))
        done.set()

    synthesizer.synthesis_completed.connect(completed)
    synthesizer.synthesis_canceled.connect(canceled)
    try:
        synthesizer.speak_text_async(text)
        if not done.wait(timeout):
            synthesizer.stop_speaking_async().get()
    finally:
        synthesizer.synthesis_completed.disconnect_all()
        synthesizer.synthesis_canceled.disconnect_all()
        del synthesizer
    return outcomes[0] if outcomes else Spoken(None, "ServiceTimeout")
