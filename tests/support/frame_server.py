"""A scripted WebSocket server on 127.0.0.1 that sees and sends individual frames.

aiohttp's server reassembles messages and cannot send fragments, so tests that must see the
frames a client sends (or send a TTS message in several frames, as the legacy service did)
run this: websockets' sans-I/O ServerProtocol over asyncio streams, recording every frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol


@dataclass
class Peer:
    """One accepted connection, from the server's side."""

    protocol: ServerProtocol
    writer: asyncio.StreamWriter
    request: Request | None = None
    frames: list[Frame] = field(default_factory=list)
    incoming: asyncio.Queue[Frame | None] = field(default_factory=asyncio.Queue)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, timeout: float = 10.0) -> Frame | None:
        return await asyncio.wait_for(self.incoming.get(), timeout)

    async def receive_data_until(self, size: int, timeout: float = 10.0) -> bytes:
        """Payload of data frames until ``size`` bytes arrived (no FIN needed)."""
        data = b""
        while len(data) < size:
            frame = await self.receive(timeout)
            if frame is None:
                break
            if frame.opcode in (Opcode.BINARY, Opcode.CONT):
                data += frame.data
        return data

    async def send(self, opcode: Opcode, data: bytes, fin: bool = True) -> None:
        if opcode is Opcode.BINARY:
            self.protocol.send_binary(data, fin)
        elif opcode is Opcode.TEXT:
            self.protocol.send_text(data, fin)
        elif opcode is Opcode.CONT:
            self.protocol.send_continuation(data, fin)
        elif opcode is Opcode.PING:
            self.protocol.send_ping(data)
        await self.flush()

    async def send_fragmented(self, data: bytes, size: int) -> None:
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        for index, piece in enumerate(pieces):
            opcode = Opcode.BINARY if index == 0 else Opcode.CONT
            await self.send(opcode, piece, index == len(pieces) - 1)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
        await self.flush()

    async def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.writer.write(chunk)
            elif self.writer.can_write_eof():
                self.writer.write_eof()
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()


Handler = Callable[[Peer], Coroutine[Any, Any, None]]


class FrameServer:
    """Accepts WebSocket connections and runs ``handler`` for each one."""

    def __init__(self, handler: Handler, *, deaf: bool = False) -> None:
        """``deaf``: after the handshake, ignore everything (a server that hangs)."""
        self.handler = handler
        self.deaf = deaf
        self.peers: list[Peer] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FrameServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for peer in self.peers:  # EOF for every reader; cancelling trips asyncio's callback
            peer.writer.transport.abort()
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 10)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}/speech/translate"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(ServerProtocol(max_size=None), writer)
        self.peers.append(peer)
        handler_task: asyncio.Task[None] | None = None
        try:
            while True:
                data = await reader.read(65536)
                if self.deaf and peer.request is not None:
                    if not data:
                        break
                    continue
                if data:
                    peer.protocol.receive_data(data)
                else:
                    peer.protocol.receive_eof()
                for event in peer.protocol.events_received():
                    if isinstance(event, Request):
                        peer.request = event
                        peer.protocol.send_response(peer.protocol.accept(event))
                        handler_task = asyncio.create_task(self.handler(peer))
                    elif isinstance(event, Frame):
                        peer.frames.append(event)
                        peer.incoming.put_nowait(event)
                await peer.flush()
                if not data or peer.protocol.state is State.CLOSED:
                    break
        finally:
            peer.incoming.put_nowait(None)
            peer.closed.set()
            if handler_task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(handler_task, 5)
            writer.close()
            self._tasks.discard(task)
