"""The text-to-speech WebSockets of the local Speech service: ``/cognitiveservices/websocket/v1``
(SSML) and ``/cognitiveservices/websocket/v2`` (SSML, and text streaming).

A turn answers ``synthesis.context`` + ``ssml`` with ``turn.start``, a ``response`` naming
the audio stream, binary ``audio`` chunks tagged with that stream's ``X-StreamId``, each
``audio.metadata`` item (:mod:`~shim.emulator.synthesis_metadata`: boundaries, bookmarks,
visemes, as the client's ``metadataOptions`` ask) just before the audio it belongs to, a
``SessionEnd`` item and ``turn.end`` (spec §5.3). The Python SDK needs neither ``response``
nor ``X-StreamId``; the JavaScript SDK compares every audio frame's ``X-StreamId`` with the
stream id of the ``response`` and stops reading without them.

**Text streaming** (both SDKs' ``SpeechSynthesisRequest`` with input type ``TextStream``,
observed with Python SDK 1.53 and JavaScript SDK 1.51): ``synthesis.context`` carries
``synthesis.input`` with ``bidirectionalStreamingMode: true``, the voice (``voiceName``)
and language; then ``text.piece`` messages (``text/plain``, the text as written) and an empty
``text.end``, all under the turn's ``X-RequestId``; no ``ssml``. The service starts the turn
at once and speaks each complete sentence as soon as its pieces have arrived, so audio flows
while the client is still writing (the JavaScript SDK's tests require audio before the
stream closes); ``text.end`` speaks the rest and ends the turn. Only the v2 path accepts it
(the SDK tests' comment: "text input streaming requires the v2 WebSocket endpoint"); v1
closes with 1007 and says so.

Bounds: a turn's text (an SSML document, or all of a stream's pieces) is at most
:data:`MAX_TURN_TEXT` characters, else 1007; it is synthesized in parts of at most
:data:`MAX_PART_TEXT` spoken characters (whole sentences where they fit), so one part's
audio (about two minutes, 4 MB of 16 kHz PCM) is all a connection holds at once; a stream's
text waiting for a sentence end is spoken as it is once it reaches :data:`MAX_PART_TEXT`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import soxr
from aiohttp import web

from shim.audiotime import TICKS_PER_SECOND, bytes_to_ticks
from shim.emulator import ssml, synthesis_metadata, usp, usp_bodies, validation
from shim.emulator.connection import UspConnection
from shim.emulator.engines.base import BadInput, Engine, WordBoundary
from shim.emulator.engines.scenario import Scenario
from shim.emulator.metrics import ServiceMetrics
from shim.mp3 import encode_mp3

log = logging.getLogger("shim.emulator")
CHUNK_SECONDS = 0.1
MAX_TURN_TEXT = 64 * 1024  # characters of one turn's SSML or text stream (our choice)
MAX_PART_TEXT = 2_000  # spoken characters synthesized at once


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
        return encode_mp3(usp_bodies.wav_header(len(pcm), rate) + pcm), 4_000
    if "pcm" not in fmt:
        raise BadInput(f"output format {output_format!r} is not supported by the local service")
    if fmt.startswith("riff"):
        return usp_bodies.wav_header(len(pcm), rate) + pcm, rate * 2
    return pcm, rate * 2


def _raw(output_format: str) -> str:
    """The headerless form of an output format (a turn's later parts carry no RIFF header)."""
    return re.sub(r"^riff-", "raw-", output_format, flags=re.IGNORECASE)


@dataclass
class _Turn:
    """A synthesis turn under way: its stream, and how much audio it has sent so far."""

    request_id: str
    stream_id: str
    ticks: int = 0
    parts: int = 0
    started: bool = False  # turn.start and response sent


@dataclass
class _TextStream:
    """A text-streaming turn: its language and voice, and the text not yet spoken."""

    turn: _Turn
    language: str
    voice: str | None
    pending: str = ""
    received: int = 0  # characters of text so far (bounded by MAX_TURN_TEXT)


class SynthesisConnection(UspConnection):
    label = "synthesis"

    def __init__(
        self,
        ws: web.WebSocketResponse,
        engine: Engine,
        scenario: Scenario,
        metrics: ServiceMetrics | None = None,
        *,
        text_streaming: bool = False,
        served_voices: frozenset[str] = frozenset(),
    ) -> None:
        self._metrics = metrics or ServiceMetrics()
        self._served_voices = served_voices  # a --voices list's names, known beside the catalog
        self._ws = ws
        self._engine = engine
        self._scenario = scenario
        self._text_streaming = text_streaming
        self._output_format = "raw-16khz-16bit-mono-pcm"
        self._options = synthesis_metadata.Options()
        self._stream: _TextStream | None = None

    async def _on_text(self, message: usp.Message) -> None:
        path = message.path.lower()
        if path == "synthesis.context":
            self._on_context(message)
        elif path == "ssml":
            assert isinstance(message.body, str)
            if self._stream is not None:
                raise BadInput("ssml during a text stream")
            await self._speak_ssml(message.request_id, message.body)
        elif path == "text.piece":
            await self._on_piece(message)
        elif path == "text.end":
            await self._on_text_end(message)
        elif path in ("speech.config", "telemetry", "event", "synthesis.control"):
            pass
        else:
            raise BadInput(f"unexpected message path {message.path!r}")

    def _on_context(self, message: usp.Message) -> None:
        body: Any = message.json() or {}
        synthesis = body.get("synthesis") if isinstance(body, Mapping) else None
        section = synthesis if isinstance(synthesis, Mapping) else {}
        audio = section.get("audio")
        fmt = audio.get("outputFormat") if isinstance(audio, Mapping) else None
        if fmt:
            self._output_format = str(fmt)
        self._options = synthesis_metadata.options_from(body)
        stream = section.get("input")
        if isinstance(stream, Mapping) and stream.get("bidirectionalStreamingMode") is True:
            if not self._text_streaming:
                raise BadInput("text streaming needs /cognitiveservices/websocket/v2")
            if not message.request_id:
                raise BadInput("synthesis.context without X-RequestId")
            voice = stream.get("voiceName")
            language = stream.get("language")
            self._check_voice(str(voice) if isinstance(voice, str) and voice else None)
            self._stream = _TextStream(
                _Turn(message.request_id, uuid.uuid4().hex),
                str(language) if isinstance(language, str) and language else "en-US",
                str(voice) if isinstance(voice, str) and voice else None,
            )

    def _stream_for(self, message: usp.Message) -> _TextStream:
        stream = self._stream
        if stream is None or message.request_id != stream.turn.request_id:
            raise BadInput(f"{message.path} outside a text-streaming turn")
        return stream

    async def _on_piece(self, message: usp.Message) -> None:
        stream = self._stream_for(message)
        if not stream.turn.started:
            await self._begin(stream.turn)
        piece = message.body if isinstance(message.body, str) else ""
        stream.received += len(piece)
        if stream.received > MAX_TURN_TEXT:
            raise BadInput(f"text stream longer than {MAX_TURN_TEXT} characters")
        stream.pending += piece
        if len(stream.pending) >= MAX_PART_TEXT:
            ready = len(stream.pending)
        else:
            ready = ssml.complete_sentences(stream.pending)
        if ready:
            text, stream.pending = stream.pending[:ready], stream.pending[ready:]
            await self._speak(stream.turn, ssml.parse_text(text, stream.language, stream.voice))

    async def _on_text_end(self, message: usp.Message) -> None:
        stream = self._stream_for(message)
        if not stream.turn.started:
            await self._begin(stream.turn)
        if stream.pending.strip():
            await self._speak(
                stream.turn, ssml.parse_text(stream.pending, stream.language, stream.voice)
            )
        self._stream = None
        await self._end(stream.turn)

    async def _speak_ssml(self, request_id: str | None, document: str) -> None:
        if not request_id:
            raise BadInput("ssml without X-RequestId")
        if len(document) > MAX_TURN_TEXT:
            raise BadInput(f"ssml longer than {MAX_TURN_TEXT} characters")
        try:
            request = ssml.parse_ssml(document)
        except ssml.SsmlError as exc:
            raise BadInput(str(exc)) from None
        self._check_voice(request.voice)
        turn = _Turn(request_id, uuid.uuid4().hex)
        await self._begin(turn)
        await self._speak(turn, request)
        await self._end(turn)

    def _check_voice(self, voice: str | None) -> None:
        refusal = validation.synthesis_voice_refusal(voice, self._served_voices)
        if refusal is not None:
            raise BadInput(refusal)

    async def _begin(self, turn: _Turn) -> None:
        turn.started = True
        send, request_id = self._ws.send_str, turn.request_id
        await send(
            usp.build_text("turn.start", request_id, {"context": {"serviceTag": request_id}})
        )
        response = {
            "context": {"serviceTag": request_id},
            "audio": {"type": "inline", "streamId": turn.stream_id},
        }
        await send(usp.build_text("response", request_id, response))

    async def _speak(self, turn: _Turn, request: ssml.Request) -> None:
        for part in request.parts(MAX_PART_TEXT):
            await self._speak_part(turn, part)

    async def _speak_part(self, turn: _Turn, request: ssml.Request) -> None:
        """One part of the turn's audio, with its metadata placed among the audio chunks."""
        text = request.spoken_text
        log.info(
            "synthesis %s: %s %s, %d characters",
            turn.request_id,
            request.language,
            request.voice,
            len(text),
        )
        pcm, words = b"", tuple[WordBoundary, ...]()
        if text.strip():
            result = await self._engine.synthesize(
                text, request.language, request.voice, self._scenario
            )
            self._metrics.syntheses.inc()
            pcm, words = result.pcm, result.words
        ticks = bytes_to_ticks(len(pcm))
        spans = [synthesis_metadata.Span(w.offset, w.duration) for w in words]
        items = synthesis_metadata.timeline(request, self._options, spans, ticks, turn.ticks)
        fmt = self._output_format if turn.parts == 0 else _raw(self._output_format)
        audio, per_second = (b"", 1)
        if pcm:
            audio, per_second = await asyncio.get_running_loop().run_in_executor(
                None, encode, pcm, fmt
            )
        step = max(2, int(per_second * CHUNK_SECONDS))
        pending = list(reversed(items))
        for start in range(0, len(audio), step):
            chunk_end = turn.ticks + (start + step) * TICKS_PER_SECOND // per_second
            while pending and pending[-1]["Data"]["Offset"] < chunk_end:
                await self._metadata(turn, pending.pop())
            await self._ws.send_bytes(
                usp.build_binary(
                    "audio",
                    turn.request_id,
                    audio[start : start + step],
                    extra=(("X-StreamId", turn.stream_id),),
                )
            )
        while pending:
            await self._metadata(turn, pending.pop())
        turn.ticks += ticks
        turn.parts += 1

    async def _metadata(self, turn: _Turn, item: dict[str, Any]) -> None:
        body = {"Metadata": [item]}
        await self._ws.send_str(usp.build_text("audio.metadata", turn.request_id, body))

    async def _end(self, turn: _Turn) -> None:
        if self._options.session_end:
            await self._metadata(turn, {"Type": "SessionEnd", "Data": {"Offset": turn.ticks}})
        await self._ws.send_str(usp.build_text("turn.end", turn.request_id, {}))
