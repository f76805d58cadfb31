"""A message-level legacy client on aiohttp, for end-to-end tests that need no frame control.

Every message the server sends is checked against the contracts (tests/e2e/contracts.py);
a breach fails the test that ran the session.
"""

from __future__ import annotations

import json
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from websockets.frames import Opcode

from tests.support.contracts import ContractObserver

THREE_QUERY = {"api-version": "1.0", "from": "en-US", "to": "de"}


def header46(rate: int = 16000, channels: int = 1) -> bytes:
    """The 46-byte header real clients send (fmt chunk of 18 bytes, zero sizes)."""
    block = channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", 0)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHHH", 18, 1, channels, rate, rate * block, block, 16, 0)
        + b"data"
        + struct.pack("<I", 0)
    )


@dataclass
class Outcome:
    texts: list[dict[str, Any]] = field(default_factory=list)
    binaries: list[bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    request_id: str | None = None

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [t for t in self.texts if t["type"] == "final"]


def connect(
    http: aiohttp.ClientSession,
    url: str,
    key: str,
    query: dict[str, str] | None,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> Any:
    """A legacy client's handshake (``async with``): the key in its header, no automatic
    Close answer (the test sees the server's Close), ``timeout`` s for each receive."""
    return http.ws_connect(
        url + "/speech/translate",
        params=query or THREE_QUERY,
        headers={"Ocp-Apim-Subscription-Key": key},
        ssl=ssl_context or True,
        autoclose=False,
        timeout=aiohttp.ClientWSTimeout(ws_receive=timeout),
    )


async def run_messages(
    url: str,
    key: str,
    messages: list[bytes],
    *,
    query: dict[str, str] | None = None,
    close_after_send: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 60,
) -> Outcome:
    outcome = Outcome()
    contract = ContractObserver(f"session {query or THREE_QUERY}")
    async with (
        aiohttp.ClientSession() as http,
        connect(http, url, key, query, timeout, ssl_context) as ws,
    ):
        outcome.request_id = ws._response.headers.get("X-RequestId")
        for message in messages:
            await ws.send_bytes(message)
        if close_after_send:
            await ws._writer.send_frame(struct.pack(">H", 1000), aiohttp.WSMsgType.CLOSE)
        closed_by_frame = False
        while True:  # (async for would swallow the Close frame and its reason)
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT:
                contract.message(Opcode.TEXT, message.data)
                outcome.texts.append(json.loads(message.data))
            elif message.type == aiohttp.WSMsgType.BINARY:
                contract.message(Opcode.BINARY, message.data)
                outcome.binaries.append(message.data)
            else:
                if message.type == aiohttp.WSMsgType.CLOSE:
                    outcome.close_reason = message.extra
                    closed_by_frame = True
                else:
                    outcome.close_reason = f"no Close frame ({message.type.name})"
                break
        if not ws.closed:
            await ws.close()
        # aiohttp reports a connection that ended without a Close frame as 1000 (its end of
        # stream): that must never pass for the server's 1000.
        outcome.close_code = ws.close_code if closed_by_frame else None
    assert contract.problems == [], "\n".join(contract.problems)
    return outcome
