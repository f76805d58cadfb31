"""The server side of one legacy WebSocket, frame by frame, on aiohttp's connection.

aiohttp answers the HTTP part (routing, the 101 response with ``X-RequestId``); then this
class installs :class:`shim.wsframes.FrameParser` as the connection's payload parser, the
same hook aiohttp's own WebSocket uses. Every client frame is delivered as it arrives
(fragments of a never-finished message included), and a TTS message goes out as one
message in several frames. No subprotocol and no extension are negotiated (HS1).

Closing follows the legacy server's manners: when the client sends Close, the session may
still send its pending results, and only then echoes the Close (ER1).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging

from aiohttp import web

from shim.wsframes import (
    CLOSE_PROTOCOL_ERROR,
    Frame,
    FrameError,
    FrameParser,
    Opcode,
    close_payload,
    encode_frame,
    encode_message,
    parse_close,
)

log = logging.getLogger("shim.server")

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
CLOSE_WAIT_SECONDS = 2.0


class HandshakeRejected(Exception):
    """Not a valid WebSocket upgrade request: answer 400."""


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def check_upgrade(request: web.Request) -> str:
    """The client's Sec-WebSocket-Key, after checking the upgrade request (RFC 6455 §4.2.1)."""
    headers = request.headers
    if request.method != "GET":
        raise HandshakeRejected("a WebSocket upgrade must be a GET")
    if "websocket" not in headers.get("Upgrade", "").lower():
        raise HandshakeRejected("this endpoint only speaks WebSocket (missing Upgrade: websocket)")
    if "upgrade" not in headers.get("Connection", "").lower():
        raise HandshakeRejected("missing Connection: Upgrade")
    if headers.get("Sec-WebSocket-Version") != "13":
        raise HandshakeRejected("unsupported Sec-WebSocket-Version (13 is required)")
    key = headers.get("Sec-WebSocket-Key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except ValueError:
        raise HandshakeRejected("invalid Sec-WebSocket-Key") from None
    return key


class _ParserAdapter:
    """What aiohttp's protocol feeds received bytes to after the upgrade."""

    def __init__(self, socket: LegacySocket) -> None:
        self._socket = socket

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._socket._received(data)
        return False, b""

    def feed_eof(self) -> None:
        self._socket._eof()


class LegacySocket:
    def __init__(self, request: web.Request, response: web.StreamResponse, max_frame_size: int):
        self._request = request
        self._response = response
        self._parser = FrameParser(max_frame_size=max_frame_size)
        self._frames: asyncio.Queue[Frame | FrameError | None] = asyncio.Queue()
        self._close_sent = False
        self._peer_closed = asyncio.Event()
        self.peer_close: tuple[int, str] | None = None
        self.close_code: int | None = None
        self.close_reason = ""

    @classmethod
    async def accept(
        cls, request: web.Request, headers: dict[str, str], *, max_frame_size: int = 16 << 20
    ) -> LegacySocket:
        key = check_upgrade(request)
        response = web.StreamResponse(
            status=101,
            headers={
                **headers,
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Accept": accept_key(key),
            },
        )
        response.force_close()
        await response.prepare(request)
        await response.write(b"")  # aiohttp buffers headers until the first write: flush the 101
        socket = cls(request, response, max_frame_size)
        request.protocol.set_parser(_ParserAdapter(socket))  # type: ignore[arg-type]
        request.protocol.keep_alive(False)
        return socket

    @property
    def response(self) -> web.StreamResponse:
        return self._response

    # ---- receiving (called by aiohttp's protocol on the loop) -----------------------------
    def _received(self, data: bytes) -> None:
        try:
            frames = self._parser.feed(data)
        except FrameError as error:
            self._frames.put_nowait(error)
            return
        for frame in frames:
            if frame.opcode == Opcode.PING:
                self._write(encode_frame(Opcode.PONG, frame.payload))
            elif frame.opcode == Opcode.PONG:
                continue
            elif frame.opcode == Opcode.CLOSE:
                self.peer_close = parse_close(frame.payload)
                self._peer_closed.set()
                self._frames.put_nowait(frame)
            else:
                self._frames.put_nowait(frame)

    def _eof(self) -> None:
        self._peer_closed.set()
        self._frames.put_nowait(None)

    async def receive(self) -> Frame | FrameError | None:
        """The next data or close frame, a FrameError on a protocol breach, None at EOF."""
        return await self._frames.get()

    # ---- sending ---------------------------------------------------------------------------
    @property
    def writable(self) -> bool:
        transport = self._request.transport
        return not self._close_sent and transport is not None and not transport.is_closing()

    def _write(self, data: bytes) -> bool:
        transport = self._request.transport
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        return True

    async def _send(self, data: bytes) -> bool:
        # StreamResponse.write() adds no framing to a 101 response and waits for the transport
        # to drain when its buffer is large (flow control): our writer for whole frames.
        if not self.writable:
            return False
        try:
            await self._response.write(data)
        except (ConnectionResetError, RuntimeError):
            return False
        return True

    async def send_text(self, text: str) -> bool:
        """One text message in one unfragmented frame (RS1)."""
        return await self._send(encode_frame(Opcode.TEXT, text.encode("utf-8")))

    async def send_fragmented_binary(self, fragments: list[bytes]) -> bool:
        """One binary message in several frames, written at once so nothing interleaves (TS2)."""
        return await self._send(encode_message(Opcode.BINARY, fragments))

    async def close(self, code: int, reason: str = "") -> None:
        """Send Close (unless sent), wait briefly for the client's, then drop the connection."""
        if not self._close_sent:
            await self._send(encode_frame(Opcode.CLOSE, close_payload(code, reason)))
            self._close_sent = True
            self.close_code, self.close_reason = code, reason
        if not self._peer_closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._peer_closed.wait(), CLOSE_WAIT_SECONDS)
        transport = self._request.transport
        if transport is not None:
            transport.close()

    async def fail(self, error: FrameError) -> None:
        await self.close(error.code or CLOSE_PROTOCOL_ERROR, str(error)[:120])
