"""Drive the Speech SDK bridge (``SpeechSession``) directly, the way the shim's session does."""

from __future__ import annotations

import asyncio
import re

from shim.server.app import LOCAL_PROPERTIES
from shim.speech.bridge import Backend, SessionOptions, SpeechSession
from shim.speech.event_path import EventPath
from shim.speech.events import BridgeEvent, Canceled, Stopped, SynthesisAudio
from shim.speech.runtime import SpeechRuntime

CHUNK = 3_200  # 100 ms of 16 kHz mono 16-bit PCM, as real-time legacy clients send
STOP_TIMEOUT = 30.0


async def run_bridge_session(
    url: str,
    key: str,
    pcm: bytes,
    path: EventPath,
    runtime: SpeechRuntime,
    *,
    target: str = "de",
    voice: str | None = None,
    pace: float = 0.02,
) -> list[BridgeEvent]:
    """Stream ``pcm`` through one SpeechSession (100 ms chunks every ``pace`` seconds), end
    the audio, wait for the SDK's session_stopped, and return every event the bridge
    delivered."""
    events: list[BridgeEvent] = []
    stopped = asyncio.Event()

    def sink(event: BridgeEvent, at: float) -> None:
        events.append(event)
        if isinstance(event, Stopped):
            stopped.set()

    backend = Backend(key=key, host=url, properties=LOCAL_PROPERTIES)
    options = SessionOptions("en-US", target, voice, "Masked")
    session = SpeechSession(backend, options, sink, runtime=runtime, events=path)
    await session.start()
    try:
        for start in range(0, len(pcm), CHUNK):
            session.write(pcm[start : start + CHUNK])
            await asyncio.sleep(pace)
        session.end_audio()
        await asyncio.wait_for(stopped.wait(), STOP_TIMEOUT)
    finally:
        await session.close()
    return events


def comparable(events: list[BridgeEvent]) -> list[BridgeEvent]:
    """The events with the one field that differs between any two sessions by design: the
    SDK's random session id at the end of cancellation details."""
    return [
        Canceled(e.reason, e.code, re.sub(r"SessionId: [0-9a-fA-F-]+", "SessionId: *", e.details))
        if isinstance(e, Canceled)
        else e
        for e in events
    ]


def shown(events: list[BridgeEvent]) -> list[str]:
    """One line per event for a readable failure diff (audio as its length)."""
    return [
        f"SynthesisAudio({len(e.audio)} bytes)" if isinstance(e, SynthesisAudio) else repr(e)
        for e in events
    ]
