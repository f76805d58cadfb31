"""The server side of one legacy WebSocket, frame by frame, on aiohttp's connection.

aiohttp answers the HTTP part (routing, the 101 response with ``X-RequestId``); then this
class installs :class:`shim.wsframes.FrameParser` as the connection's payload parser, the
same hook aiohttp's own WebSocket uses. Every piece of a client frame is delivered as it
arrives (fragments of a never-finished message included), and a TTS message goes out as one
message in several frames. No subprotocol and no extension are negotiated (HS1).

Closing follows the legacy server's manners: when the client sends Close, the session may
still send its pending results, and only then echoes the Close (ER1). The client's end of
stream (TCP FIN, TLS close_notify) is reported as :class:`ClientEnd`, in order after what came
before it, and the connection stays open for writing: clients on the Node ``websocket``
library end their side right after their Close and still read for 5 s. The edge keeps such a
connection half-open (``shim/server/edge.py``, ``shim/server/tls.py``); only a lost connection
(a reset, a failed write) sets :attr:`LegacySocket.gone`.

Memory, per connection: the parser holds at most a frame header and a control payload;
received data waits in a queue of at most ``QUEUE_HIGH_BYTES`` plus one socket read (256 KiB)
before the transport stops reading (TCP backpressure; it reads again below
``QUEUE_LOW_BYTES``); pongs are written only while the transport's write buffer is under
``PONG_WRITE_LIMIT`` (otherwise only the latest ping is remembered, as RFC 6455 §5.5.3
allows); every other write waits for the transport to drain (aiohttp's flow control). After a
protocol error nothing more is parsed or queued.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable

from aiohttp import web

from shim.server.edge import EdgeRequestHandler
from shim.server.taps import FrameTap
from shim.wsframes import (
    DataChunk,
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
CLOSE_WAIT_SECONDS = 2.0  # after our Close: how long the client may take to answer it
QUEUE_HIGH_BYTES = 256 << 10  # beyond this the transport stops reading (TCP backpressure)
QUEUE_LOW_BYTES = 64 << 10
PONG_WRITE_LIMIT = 64 << 10
DIRECT_WRITE_BYTES = 16 << 10  # a frame this small goes straight into an empty transport


def _nothing() -> None:
    pass


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


class ClientClose:
    """The client's Close frame arrived (its code is in ``code``)."""

    def __init__(self, code: int) -> None:
        self.code = code


class ClientEnd:
    """The client ended its side of the connection: nothing more comes, results still go."""


Received = DataChunk | ClientClose | ClientEnd | FrameError


class _ParserAdapter:
    """What aiohttp's protocol feeds received bytes to after the upgrade."""

    def __init__(self, socket: LegacySocket) -> None:
        self._socket = socket

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._socket._received(data)
        return False, b""

    def feed_eof(self) -> None:  # aiohttp calls this when the connection is lost
        self._socket._lost()


class LegacySocket:
    """One legacy WebSocket. Received data is pushed to the session as it is parsed, on the
    loop (:meth:`start`): no task wakes up per frame. While the session holds it
    (:meth:`hold`), it waits in a bounded queue."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self._response = response
        self._parser = FrameParser()
        self._consumer: Callable[[Received], None] | None = None
        self._held = True  # nothing is delivered before start()
        self._delivering = False
        self._queue: collections.deque[Received] = collections.deque()
        self._queued_bytes = 0
        self._reading_paused = False
        self._pending_pong: bytes | None = None
        self._discarding = False  # the session wants no more data, only the client's Close
        self._close_sent = False
        self._peer_closed = asyncio.Event()  # its Close or its end of stream arrived
        self._ended = False
        self.gone = asyncio.Event()  # connection lost: nothing more can be sent
        self.on_gone: Callable[[], None] = lambda: None
        self.tap: FrameTap | None = None  # capture and shadow: every frame, both directions

    @classmethod
    async def accept(cls, request: web.Request, headers: dict[str, str]) -> LegacySocket:
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
        socket = cls(request, response)
        protocol = request.protocol
        protocol.set_parser(_ParserAdapter(socket))  # type: ignore[arg-type]
        protocol.keep_alive(False)
        if isinstance(protocol, EdgeRequestHandler):
            protocol.on_end_of_stream = socket._ended_stream
        return socket

    @property
    def response(self) -> web.StreamResponse:
        return self._response

    # ---- receiving (called by aiohttp's protocol on the loop) -----------------------------
    def start(self, consumer: Callable[[Received], None]) -> None:
        """Deliver every piece of client data, Close and protocol error to ``consumer``."""
        self._consumer = consumer
        self.release()

    def hold(self) -> None:
        """Stop delivering: data waits (up to the queue's bound, then in TCP buffers)."""
        self._held = True

    def release(self) -> None:
        """Deliver what waited, then whatever arrives."""
        self._held = False
        if self._delivering:
            return  # the delivery loop below picks up where it is
        self._delivering = True
        try:
            while self._queue and not self._held and self._consumer is not None:
                item = self._queue.popleft()
                if isinstance(item, DataChunk):
                    self._queued_bytes -= len(item.data)
                self._consume(item)
        finally:
            self._delivering = False
        if self._reading_paused and self._queued_bytes < QUEUE_LOW_BYTES:
            self._resume_transport()

    def _received(self, data: bytes) -> None:
        if self._parser.failed:
            return  # after a protocol error: discard everything until the connection closes
        try:
            frames = self._parser.feed(data)
        except FrameError as error:
            self._put(error, 0)
            return
        if self.tap is not None:
            at = time.monotonic()
            for frame in frames:
                self.tap.received(frame, at)
        for frame in frames:
            if isinstance(frame, DataChunk):
                if not self._discarding:
                    self._put(frame, len(frame.data))
            elif frame.opcode == Opcode.PING:
                self._pong(frame.payload)
            elif frame.opcode == Opcode.CLOSE:
                self._peer_closed.set()
                self._put(ClientClose(parse_close(frame.payload)[0]), 0)
            # A Pong needs no answer.

    def _put(self, item: Received, size: int) -> None:
        if not self._held and not self._queue and not self._delivering and self._consumer:
            self._delivering = True
            try:
                self._consume(item)
            finally:
                self._delivering = False
            return
        self._queue.append(item)
        self._queued_bytes += size
        if self._queued_bytes > QUEUE_HIGH_BYTES and not self._reading_paused:
            transport = self._request.transport
            if transport is not None and not transport.is_closing():
                transport.pause_reading()
                self._reading_paused = True

    def _consume(self, item: Received) -> None:
        assert self._consumer is not None
        try:
            self._consumer(item)
        except Exception:  # a bug in the session must not reach aiohttp's protocol
            log.exception("legacy socket: the session failed to handle client data")
            self.abort()

    def _resume_transport(self) -> None:
        self._reading_paused = False
        transport = self._request.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _ended_stream(self) -> bool:
        """The client half-closed: report it after what it sent; keep the connection open."""
        if not self._ended:
            self._ended = True
            self._peer_closed.set()
            self._put(ClientEnd(), 0)
        return not self._close_sent

    def _lost(self) -> None:
        self._peer_closed.set()
        if not self.gone.is_set():
            self.gone.set()
            self.on_gone()

    def detach(self) -> None:
        """The session is over: drop every reference to it (the session holds this socket, so
        they would keep each other alive until the garbage collector's next full pass)."""
        self._consumer = None
        self.on_gone = _nothing
        self._queue.clear()

    def discard_input(self) -> None:
        """Drop client data from now on (the session is closing); keep reading for its Close
        and for EOF."""
        self._discarding = True
        self._queue = collections.deque(i for i in self._queue if not isinstance(i, DataChunk))
        self._queued_bytes = 0
        if self._reading_paused:
            self._resume_transport()

    # ---- sending ---------------------------------------------------------------------------
    def ping(self) -> None:
        """Ask the client for a sign of life. Its answer is not awaited (it would queue behind
        unread audio): a client that is gone answers the Ping's bytes with a TCP reset, and the
        next write fails, which loses the connection (:attr:`gone`)."""
        transport = self._request.transport
        if transport is None or transport.is_closing() or self._close_sent:
            return
        if transport.get_write_buffer_size() < PONG_WRITE_LIMIT:
            self._tapped(Opcode.PING, True, b"")
            transport.write(encode_frame(Opcode.PING, b""))

    def _pong(self, payload: bytes) -> None:
        transport = self._request.transport
        if transport is None or transport.is_closing() or self._close_sent:
            return
        if transport.get_write_buffer_size() < PONG_WRITE_LIMIT:
            self._tapped(Opcode.PONG, True, payload)
            transport.write(encode_frame(Opcode.PONG, payload))
            self._pending_pong = None
        else:
            self._pending_pong = payload  # answered when the client reads again

    @property
    def backed_up(self) -> bool:
        """Bytes from earlier writes still wait in the transport: the client reads slowly."""
        transport = self._request.transport
        return transport is not None and transport.get_write_buffer_size() > 0

    @property
    def writable(self) -> bool:
        transport = self._request.transport
        return not self._close_sent and transport is not None and not transport.is_closing()

    async def _send(self, data: bytes) -> bool:
        if not self.writable:
            return False
        transport = self._request.transport
        assert transport is not None
        try:
            if not transport.get_write_buffer_size() and len(data) <= DIRECT_WRITE_BYTES:
                transport.write(data)  # nothing waiting: no flow control needed, no overhead
            else:
                # StreamResponse.write() adds no framing to a 101 response and waits for the
                # transport to drain when its buffer is large (flow control).
                await self._response.write(data)
        except (ConnectionResetError, RuntimeError):
            return False
        if self._pending_pong is not None:
            self._pong(self._pending_pong)
        return True

    def _tapped(self, opcode: Opcode, fin: bool, payload: bytes) -> None:
        if self.tap is not None and self.writable:
            self.tap.sent(opcode, fin, payload, time.monotonic())

    async def send_text(self, text: bytes) -> bool:
        """One text message (UTF-8) in one unfragmented frame (RS1)."""
        self._tapped(Opcode.TEXT, True, text)
        return await self._send(encode_frame(Opcode.TEXT, text))

    async def send_fragmented_binary(self, fragments: list[bytes]) -> bool:
        """One binary message in several frames, written at once so nothing interleaves (TS2)."""
        if self.tap is not None:
            for index, piece in enumerate(fragments or [b""]):
                opcode = Opcode.BINARY if index == 0 else Opcode.CONTINUATION
                self._tapped(opcode, index == max(len(fragments), 1) - 1, piece)
        return await self._send(encode_message(Opcode.BINARY, fragments))

    async def close(
        self, code: int, reason: str = "", on_sent: Callable[[], None] = lambda: None
    ) -> None:
        """Send Close (unless sent), wait briefly for the client's, then drop the connection.

        ``on_sent`` runs as soon as the Close is handed to the transport: a client that has
        its Close may connect again at once, before its own Close reaches us."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
        if not self._close_sent:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT_SECONDS):
                    self._tapped(Opcode.CLOSE, True, close_payload(code, reason))
                    await self._send(encode_frame(Opcode.CLOSE, close_payload(code, reason)))
            self._close_sent = True
        on_sent()
        if not self._peer_closed.is_set():
            self.discard_input()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_WAIT_SECONDS):
                    await self._peer_closed.wait()
        transport = self._request.transport
        if transport is not None and transport.get_write_buffer_size():
            self.abort()  # the client is not reading: close() would wait for it forever
        elif transport is not None:
            transport.close()

    def abort(self) -> None:
        """Drop the connection now, whatever is still unsent."""
        self._close_sent = True
        transport = self._request.transport
        if transport is not None:
            transport.abort()
