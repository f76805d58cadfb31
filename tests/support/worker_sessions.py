"""Legacy sessions for tests of ``serve --workers``: which worker took each (``X-Shim-Worker``),
held open as long as a test needs, and handshakes that only ask for their status."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import aiohttp

from tests.support.legacy_ws import header46
from tests.support.paths import read_pcm

WAV = "en-US_whatstheweatherlike.wav"


@dataclass
class Session:
    worker: str
    finals: list[str] = field(default_factory=list)
    close_code: int | None = None


def _query(**extra: str) -> dict[str, str]:
    return {"api-version": "1.0", "from": "en-US", "to": "de", **extra}


async def session(
    url: str,
    headers: dict[str, str],
    *,
    hold: asyncio.Event | None = None,
    connected: asyncio.Future[str] | None = None,
) -> Session:
    """One legacy session; with ``hold``, streams until it is set, then closes;
    ``connected`` learns which worker took it as soon as it did."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            url.replace("http", "ws", 1) + "/speech/translate",
            params=_query(),
            headers=headers,
            autoclose=False,
        ) as ws,
    ):
        result = Session(ws._response.headers["X-Shim-Worker"])
        if connected is not None:
            connected.set_result(result.worker)

        async def send() -> None:
            await ws.send_bytes(header46() + read_pcm(WAV))
            if hold is not None:
                while not hold.is_set():
                    await ws.send_bytes(bytes(3200))
                    await asyncio.sleep(0.1)
            await ws.send_bytes(bytes(32_000))
            await ws._writer.send_frame(b"\x03\xe8", aiohttp.WSMsgType.CLOSE)

        sender = asyncio.create_task(send())
        while True:
            message = await ws.receive(timeout=60)
            if message.type == aiohttp.WSMsgType.TEXT:
                document = json.loads(message.data)
                if document["type"] == "final":
                    result.finals.append(document["recognition"])
            elif message.type == aiohttp.WSMsgType.CLOSE:
                result.close_code = message.data
                break
            elif message.type != aiohttp.WSMsgType.BINARY:
                break
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)  # the server may have closed first
    return result


async def handshake_status(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """The status a handshake gets (101 or an error), and which worker answered ("" without
    ``--workers``)."""
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(
                url.replace("http", "ws", 1) + "/speech/translate", params=_query(), headers=headers
            ) as ws:
                return 101, ws._response.headers.get("X-Shim-Worker", "")
        except aiohttp.WSServerHandshakeError as error:
            assert error.headers is not None
            return error.status, error.headers.get("X-Shim-Worker", "")
