"""A legacy client that streams audio at a chosen pace while it reads the results, as a live
microphone client does; every message is checked against the contracts.

Messages are kept in the order they arrived (text results and TTS audio interleaved), so a
test can check that each final is followed by exactly one audio message (TS1).
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from websockets.frames import Opcode

from tests.support.contracts import ContractObserver
from tests.support.legacy_ws import THREE_QUERY, connect, header46

CHUNK_BYTES = 3200  # 100 ms of 16 kHz mono 16-bit PCM


@dataclass
class Heard:
    """What the client got, in order: ``("text", result)`` or ``("audio", bytes)``."""

    messages: list[tuple[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [m for kind, m in self.messages if kind == "text" and m["type"] == "final"]

    @property
    def kinds(self) -> list[str]:
        """``final``, ``partial`` and ``audio``, in order."""
        return [m["type"] if kind == "text" else "audio" for kind, m in self.messages]


async def paced_session(
    url: str,
    pcm: bytes,
    *,
    key: str = "client",
    query: dict[str, str] | None = None,
    speed: float | None = 1.0,
    tail_seconds: float = 1.0,
    on_final: Callable[[dict[str, Any]], None] | None = None,
    timeout: float = 90,
) -> Heard:
    """One session: ``pcm`` (16 kHz mono 16-bit) sent in 100 ms messages at ``speed`` times
    real time (None: all at once), then ``tail_seconds`` of silence and a Close (1000); the
    results are read meanwhile until the server's Close. ``on_final`` sees each final as it
    arrives."""
    heard = Heard()
    contract = ContractObserver(f"paced session {query or THREE_QUERY}")
    async with aiohttp.ClientSession() as http, connect(http, url, key, query, timeout) as ws:

        async def send() -> None:
            audio = pcm + bytes(int(32_000 * tail_seconds) // 2 * 2)
            if speed is None:
                await ws.send_bytes(header46() + audio)
            else:
                await ws.send_bytes(header46())
                loop = asyncio.get_running_loop()
                started = loop.time()
                for index, at in enumerate(range(0, len(audio), CHUNK_BYTES)):
                    await asyncio.sleep(max(0.0, started + index * 0.1 / speed - loop.time()))
                    await ws.send_bytes(audio[at : at + CHUNK_BYTES])
            await ws._writer.send_frame(struct.pack(">H", 1000), aiohttp.WSMsgType.CLOSE)

        sender = asyncio.create_task(send())
        try:
            while True:
                message = await ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    contract.message(Opcode.TEXT, message.data)
                    result = json.loads(message.data)
                    heard.messages.append(("text", result))
                    if on_final is not None and result["type"] == "final":
                        on_final(result)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    contract.message(Opcode.BINARY, message.data)
                    heard.messages.append(("audio", message.data))
                else:
                    if message.type == aiohttp.WSMsgType.CLOSE:
                        heard.close_code, heard.close_reason = message.data, message.extra or ""
                    break
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)  # the server may close first
    assert contract.problems == [], "\n".join(contract.problems)
    return heard
