"""The text-to-speech WebSocket (``/cognitiveservices/websocket/v1``) of the local Speech service.

Answers ``synthesis.context`` + ``ssml`` with ``turn.start``, a ``response`` naming the audio
stream, ``audio.metadata`` word boundaries, binary ``audio`` chunks tagged with that stream's
``X-StreamId``, a ``SessionEnd`` marker and ``turn.end`` (spec §5.3). The Python SDK needs
neither ``response`` nor ``X-StreamId``; the JavaScript SDK compares every audio frame's
``X-StreamId`` with the stream id of the ``response`` and stops reading without them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import soxr
from aiohttp import web

from shim.audiotime import bytes_to_ticks
from shim.emulator import usp, wire
from shim.emulator.connection import BadInput, UspConnection
from shim.emulator.engines.base import Engine
from shim.emulator.metrics import ServiceMetrics
from shim.emulator.scenario import Scenario
from shim.mp3 import encode_mp3

log = logging.getLogger("shim.emulator")
CHUNK_SECONDS = 0.1


def parse_ssml(ssml: str) -> tuple[str, str, str | None]:
    """(text, language, voice) of an SSML document."""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError as exc:
        raise BadInput(f"ssml does not parse: {exc}") from None
    language = root.get("{http://www.w3.org/XML/1998/namespace}lang") or "en-US"
    voice_name = None
    for element in root.iter():
        if element.tag.split("}")[-1] == "voice":
            voice_name = element.get("name")
            break
    if voice_name:
        match = re.match(r"^([a-z]{2,3}-[A-Za-z]{2,4})", voice_name)
        if match:
            language = match.group(1)
    text = " ".join("".join(root.itertext()).split())
    return text, language, voice_name


def encode(pcm: bytes, output_format: str) -> tuple[bytes, int]:
    """Audio in the requested output format and its bytes per second (for chunking)."""
    fmt = output_format.lower()
    rate_match = re.search(r"(\d+)khz", fmt)
    rate = int(rate_match.group(1)) * 1000 if rate_match else 16_000
    if rate == 22000:
        rate = 22050
    if rate == 44000:
        rate = 44100
    if rate != 16_000:
        samples = soxr.resample(np.frombuffer(pcm, dtype="<i2"), 16_000, rate)
        pcm = np.asarray(samples, dtype="<i2").tobytes()
    if "mp3" in fmt:
        return encode_mp3(wire.wav_header(len(pcm), rate) + pcm), 4_000
    if "pcm" not in fmt:
        raise BadInput(f"output format {output_format!r} is not supported by the local service")
    if fmt.startswith("riff"):
        return wire.wav_header(len(pcm), rate) + pcm, rate * 2
    return pcm, rate * 2


class SynthesisConnection(UspConnection):
    label = "synthesis"

    def __init__(
        self,
        ws: web.WebSocketResponse,
        engine: Engine,
        scenario: Scenario,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._metrics = metrics or ServiceMetrics()
        self._ws = ws
        self._engine = engine
        self._scenario = scenario
        self._output_format = "raw-16khz-16bit-mono-pcm"

    async def _on_text(self, message: usp.Message) -> None:
        path = message.path.lower()
        if path == "synthesis.context":
            body: Any = message.json() or {}
            fmt = (
                body.get("synthesis", {}).get("audio", {}).get("outputFormat")
                if isinstance(body, dict)
                else None
            )
            if fmt:
                self._output_format = str(fmt)
        elif path == "ssml":
            assert isinstance(message.body, str)
            await self._speak(message.request_id, message.body)
        elif path in ("speech.config", "telemetry", "event"):
            pass
        else:
            raise BadInput(f"unexpected message path {message.path!r}")

    async def _speak(self, request_id: str | None, ssml: str) -> None:
        if not request_id:
            raise BadInput("ssml without X-RequestId")
        text, language, voice = parse_ssml(ssml)
        log.info("synthesis %s: %s %s, %d characters", request_id, language, voice, len(text))
        result = await self._engine.synthesize(text, language, voice, self._scenario)
        self._metrics.syntheses.inc()
        audio, per_second = await asyncio.get_running_loop().run_in_executor(
            None, encode, result.pcm, self._output_format
        )
        send = self._ws.send_str
        await send(
            usp.build_text("turn.start", request_id, {"context": {"serviceTag": request_id}})
        )
        stream_id = uuid.uuid4().hex  # the turn's one audio stream
        response = {
            "context": {"serviceTag": request_id},
            "audio": {"type": "inline", "streamId": stream_id},
        }
        await send(usp.build_text("response", request_id, response))
        metadata = [
            {
                "Type": "WordBoundary",
                "Data": {
                    "Offset": w.offset,
                    "Duration": w.duration,
                    "text": {"Text": w.text, "Length": len(w.text), "BoundaryType": "WordBoundary"},
                },
            }
            for w in result.words
        ]
        if metadata:
            await send(usp.build_text("audio.metadata", request_id, {"Metadata": metadata}))
        step = max(2, int(per_second * CHUNK_SECONDS))
        for start in range(0, len(audio), step):
            await self._ws.send_bytes(
                usp.build_binary(
                    "audio",
                    request_id,
                    audio[start : start + step],
                    extra=(("X-StreamId", stream_id),),
                )
            )
        end = {
            "Metadata": [
                {"Type": "SessionEnd", "Data": {"Offset": bytes_to_ticks(len(result.pcm))}}
            ]
        }
        await send(usp.build_text("audio.metadata", request_id, end))
        await send(usp.build_text("turn.end", request_id, {}))
