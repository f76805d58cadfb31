"""How a recognition connection of the local Speech service sends: its frames (one at a
time, with the turn's X-RequestId), a turn's synthesized speech, and the scripted faults
that act on sending (a delay, a hang, a reset, a close with a code).

Memory: nothing is queued here; a send waits for the WebSocket's own write.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from shim.emulator import usp, usp_bodies, validation
from shim.emulator.connection import StopConnection
from shim.emulator.engines.base import Engine
from shim.emulator.engines.scenario import Fault, Scenario
from shim.emulator.metrics import ServiceMetrics
from shim.emulator.resume import ResumePoints
from shim.emulator.turn import Turn

log = logging.getLogger("shim.emulator")


class Outbox:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        connection_id: str,
        resume: ResumePoints,
        metrics: ServiceMetrics,
    ) -> None:
        self._ws = ws
        self._request = request
        self._connection_id = connection_id
        self._resume = resume
        self._metrics = metrics
        self._delay = 0.0
        self._lock = asyncio.Lock()
        self.request_id: str | None = None  # the current turn's X-RequestId
        self.hung = False  # a hang fault: nothing more is sent or heard

    async def text(self, path: str, body: dict[str, Any], turn_of: Turn | None = None) -> None:
        """``turn_of``: a turn with language identification sends its translation results
        as ``translation.response`` (:func:`usp_bodies.translation_response`)."""
        if (
            turn_of is not None
            and turn_of.output.identify
            and path in ("translation.phrase", "translation.hypothesis")
        ):
            path, body = "translation.response", usp_bodies.translation_response(body)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("send %s %s", path, body)
        await self._send(usp.build_text(path, self.request_id, body))

    async def binary(self, path: str, payload: bytes) -> None:
        frame = usp.build_binary(path, self.request_id, payload, content_type="audio/x-wav")
        await self._send(frame)

    async def synthesis(
        self, turn: Turn, spoken: dict[str, str], engine: Engine, scenario: Scenario
    ) -> None:
        """A final's translations spoken in the turn's voices, as the service sends them."""
        for language, voice in turn.synthesized.items():
            text = spoken.get(language)
            if not text:
                continue
            failure = validation.voice_failure(voice)
            if failure is not None:
                body = usp_bodies.synthesis_failure(failure)
                await self.text("translation.synthesis.end", body)
                continue
            result = await engine.synthesize(text, language, voice, scenario)
            self._metrics.syntheses.inc()
            chunk = scenario.synthesis_chunk_ms * 32
            chunk -= chunk % 2
            # Like the service: several chunks, each a WAV file with its own header.
            for start in range(0, len(result.pcm), chunk):
                pcm = result.pcm[start : start + chunk]
                await self.binary("translation.synthesis", usp_bodies.wav_header(len(pcm)) + pcm)
            await self.text("translation.synthesis.end", {"SynthesisStatus": "Success"})

    async def apply(self, fault: Fault, acknowledged: int) -> None:
        """A scripted fault; raises :class:`StopConnection` when it ends the connection.
        ``acknowledged``: absolute ticks the SDK has every phrase up to."""
        log.info("connection %s: fault %s", self._connection_id, fault.key)
        self._metrics.fault(
            close_code=fault.close_code,
            delay_ms=fault.delay_ms,
            hang=bool(fault.hang),
            reset=bool(fault.reset),
        )
        if fault.delay_ms is not None:
            self._delay = fault.delay_ms / 1000
        if fault.hang:
            self.hung = True
        if fault.reset:
            transport = self._request.transport
            if transport is not None:
                transport.abort()
            raise StopConnection
        if fault.close_code is not None:
            # A close frame follows every phrase sent: the SDK has them all and will replay
            # from the last one. (After a reset it may not have: nothing is remembered.)
            self._resume.acknowledge(self._connection_id, acknowledged)
            await self._ws.close(
                code=fault.close_code, message=(fault.close_reason or "injected fault").encode()
            )
            raise StopConnection

    async def _send(self, frame: str | bytes) -> None:
        if self.hung or self._ws.closed:
            return
        if self._delay:
            await asyncio.sleep(self._delay)
        async with self._lock:
            if isinstance(frame, str):
                await self._ws.send_str(frame)
            else:
                await self._ws.send_bytes(frame)
