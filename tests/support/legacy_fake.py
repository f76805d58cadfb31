"""A tiny stand-in for a legacy /speech/translate endpoint, for testing the client harness.

It is not the shim: it answers every session with the same partial, final and TTS, so the
tests here check the client (streaming, receiving, ending), not recognition. It flushes its
results when the client closes, before answering the Close, as the legacy service's
clients need (ER1); ``send_on_connect`` sends them at once instead.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

KEY = "good-key"
PARTIAL = {"type": "partial", "id": "0.1", "recognition": "turn on", "translation": "enciende"}
FINAL = {
    "type": "final",
    "id": "0",
    "recognition": "Turn on the lamp.",
    "translation": "Enciende la lámpara.",
}


def tts_wav() -> bytes:
    pcm = bytes(3200)
    fmt = struct.pack("<HHIIHHH", 1, 1, 16000, 32000, 2, 16, 0)
    riff = 4 + 8 + 18 + 8 + len(pcm)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 18)
        + fmt
        + b"data"
        + struct.pack("<I", len(pcm))
        + pcm
    )


@dataclass
class Behaviour:
    send_on_connect: bool = False
    tts: bool = True
    close_code: int = 1000
    languages: dict[str, object] | None = None  # served at /languages; None: no such route
    pairs: set[tuple[str, str]] | None = None  # (from, to) accepted; None: any
    sessions: list[bytes] = field(default_factory=list)  # audio bytes received per session


def app(behaviour: Behaviour) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Ocp-Apim-Subscription-Key") or request.query.get(
            "subscription-key"
        )
        if key != KEY:
            return web.json_response(
                {"error": {"code": 401000, "message": "invalid subscription key"}}, status=401
            )
        pair = (request.query.get("from", ""), request.query.get("to", ""))
        if behaviour.pairs is not None and pair not in behaviour.pairs:
            message = f"from={pair[0]} to={pair[1]} is not supported"
            return web.json_response({"error": {"code": 400050, "message": message}}, status=400)
        ws = web.WebSocketResponse(autoclose=False, max_msg_size=0)
        ws.headers["X-RequestId"] = "fake-request"
        await ws.prepare(request)
        received = bytearray()

        async def results() -> None:
            await ws.send_json(PARTIAL, dumps=_compact)
            await ws.send_json(FINAL, dumps=_compact)
            if behaviour.tts:
                await ws.send_bytes(tts_wav())

        if behaviour.send_on_connect:
            await results()
        while True:  # not ``async for``: it stops before yielding the CLOSE message
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.BINARY:
                received += message.data
            elif message.type is aiohttp.WSMsgType.CLOSE:
                if not behaviour.send_on_connect:
                    await results()
                await ws.close(code=behaviour.close_code)
                break
            elif message.type is not aiohttp.WSMsgType.TEXT:
                break
        behaviour.sessions.append(bytes(received))
        return ws

    async def languages(request: web.Request) -> web.StreamResponse:
        return web.json_response(behaviour.languages)

    application = web.Application()
    application.router.add_get("/speech/translate", handler)
    if behaviour.languages is not None:
        application.router.add_get("/languages", languages)
    return application


def _compact(value: object) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@asynccontextmanager
async def serve(behaviour: Behaviour) -> AsyncIterator[str]:
    """Run the fake on 127.0.0.1; yields its base URL (http://host:port)."""
    runner = web.AppRunner(app(behaviour))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
