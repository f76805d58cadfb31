"""A WebSocket client that sends and receives frames as they are (frame-level control), on
websockets' sans-I/O protocol.

High-level clients reassemble messages and hide FIN bits, and cannot send a message that
never ends; a test harness and session recordings need exactly those. So this module drives
:class:`websockets.client.ClientProtocol` over asyncio streams itself: every frame goes out
as given (opcode, payload, FIN) and every frame that comes in is handed over as it is. Pings
and the close handshake are still answered by the protocol, as a conforming client must.

Memory: frames received are queued until read (a test client reads them all), and a single
incoming message is limited by ``max_size`` (default 64 MiB; TTS segments exceed 64 KiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl as ssl_module
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import BytesLike
from websockets.uri import parse_uri

Direction = Literal["out", "in"]
FrameObserver = Callable[[Direction, float, Opcode, bool, bytes], None]
"""Called for every frame either way: (direction, time.monotonic(), opcode, FIN, payload)."""

HeaderItems = Mapping[str, str] | Iterable[tuple[str, str]]

DEFAULT_MAX_SIZE = 64 * 2**20
_READ_SIZE = 2**16


class HandshakeError(Exception):
    """The server did not complete a WebSocket handshake (no HTTP status to report)."""


class ConnectionClosed(Exception):
    """A frame could not be sent: the connection is closing or closed."""


@dataclass(frozen=True)
class HandshakeRefused:
    """The server answered the upgrade with an HTTP status other than 101 (400, 401, 429…)."""

    status: int
    reason: str
    headers: Headers
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def message(self) -> str:
        """The error message: ``error.message`` of a Translator-style JSON body, else the
        body's text."""
        document = self.json()
        if isinstance(document, dict):
            error = document.get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return str(error["message"])
            if isinstance(document.get("message"), str):
                return str(document["message"])
        return self.body.decode("utf-8", "replace").strip()


@dataclass(frozen=True)
class Handshake:
    """The HTTP upgrade exchange as it went over the wire, for recordings.

    ``url`` and ``request_headers`` hold credentials as sent: redact before storing them.
    Times are ``time.monotonic()`` values.
    """

    url: str
    request_headers: Headers
    status: int
    reason: str
    response_headers: Headers
    body: bytes
    sent_at: float
    answered_at: float


HandshakeObserver = Callable[[Handshake], None]
"""Called once the server has answered the upgrade (101 or not), before any frame."""


def websocket_url(url: str) -> str:
    """``http(s)://`` as ``ws(s)://``: users paste the server's ``ready`` URL."""
    parts = urllib.parse.urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    return urllib.parse.urlunsplit(parts._replace(scheme=scheme))


def make_ssl_context(cafile: str | None = None, *, insecure: bool = False) -> ssl_module.SSLContext:
    """A client TLS context trusting ``cafile`` (plus the system store), or nothing at all
    when ``insecure`` (self-signed staging servers)."""
    context = ssl_module.create_default_context(cafile=cafile)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    return context


class Connection:
    """An open WebSocket connection. Create it with :func:`connect`."""

    def __init__(
        self,
        protocol: ClientProtocol,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: Response,
        early_events: Sequence[object],
        observer: FrameObserver | None,
    ) -> None:
        self._protocol = protocol
        self._reader = reader
        self._writer = writer
        self._observer = observer
        self._frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._done = asyncio.Event()
        self.response_headers: Headers = response.headers
        self._handle_events(early_events)
        self._write_pending()  # e.g. the echo of a Close that came with the handshake
        self._reading = asyncio.create_task(self._read_loop())

    # -- sending -------------------------------------------------------------------------

    async def send_frame(self, opcode: Opcode, data: BytesLike | str, fin: bool = True) -> None:
        """Send one frame exactly as given: BINARY, TEXT, CONT (or PING).

        Text payloads are not validated: raw frames are the point. Raises ConnectionClosed
        once the closing handshake has started.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        protocol = self._protocol
        try:
            if opcode is Opcode.BINARY:
                protocol.send_binary(payload, fin)
            elif opcode is Opcode.TEXT:
                protocol.send_text(payload, fin)
            elif opcode is Opcode.CONT:
                protocol.send_continuation(payload, fin)
            elif opcode is Opcode.PING:
                protocol.send_ping(payload)
            else:
                raise ValueError(f"send {opcode.name} frames with close(), not send_frame()")
        except Exception as exc:
            if protocol.state is not State.OPEN:
                raise ConnectionClosed(f"connection is {protocol.state.name.lower()}") from exc
            raise
        self._observe("out", opcode, fin, payload)
        await self._flush()

    async def send_message(self, data: bytes | str, fragment_size: int | None = None) -> int:
        """Send one message, in frames of ``fragment_size`` bytes if given; returns the
        number of frames."""
        payload = data.encode() if isinstance(data, str) else data
        opcode = Opcode.TEXT if isinstance(data, str) else Opcode.BINARY
        size = fragment_size or max(len(payload), 1)
        pieces = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        for index, piece in enumerate(pieces):
            await self.send_frame(
                opcode if index == 0 else Opcode.CONT, piece, index == len(pieces) - 1
            )
        return len(pieces)

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; frames the server sends before its Close can still be
        read with :meth:`receive_frame` (servers flush results then). No-op unless open."""
        if self._protocol.state is not State.OPEN:
            return
        self._protocol.send_close(code, reason)
        self._observe("out", Opcode.CLOSE, True, Close(code, reason).serialize())
        self._write_pending()

    def half_close(self) -> None:
        """End the client's side of TCP (shutdown(SHUT_WR)) and keep reading, as clients on
        the `websocket` npm library do right after their Close. Over TLS asyncio cannot end
        one side only: the connection then stays fully open (the server sees no end)."""
        if self._writer.can_write_eof() and not self._writer.is_closing():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def close(self, code: int = 1000, reason: str = "", timeout: float = 10.0) -> None:
        """Close and wait until the server has closed the TCP connection (or ``timeout``)."""
        self.send_close(code, reason)
        await self.wait_closed(timeout)

    async def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection is closed; abort it after ``timeout``. True if it
        closed by itself."""
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
            return True
        except TimeoutError:
            self.abort()
            await self._done.wait()
            return False

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self._writer.transport.abort()

    # -- receiving -----------------------------------------------------------------------

    async def receive_frame(self, timeout: float | None = None) -> Frame | None:
        """The next frame received, control frames included; None once the connection is
        closed. Raises TimeoutError after ``timeout`` seconds without a frame."""
        if timeout is None:
            return await self._frames.get()
        return await asyncio.wait_for(self._frames.get(), timeout)

    # -- state ---------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self._protocol.state is State.OPEN

    @property
    def closed(self) -> bool:
        return self._done.is_set()

    @property
    def close_code(self) -> int | None:
        """The code of the server's Close frame; 1006 if the connection ended without one;
        None while not closed."""
        return self._protocol.close_code if self.closed else None

    @property
    def close_reason(self) -> str | None:
        return self._protocol.close_reason if self.closed else None

    @property
    def close_sent_code(self) -> int | None:
        """The code of the Close frame this client sent (or echoed)."""
        sent = self._protocol.close_sent
        return sent.code if sent is not None else None

    @property
    def server_closed_first(self) -> bool | None:
        """True if the server started the closing handshake, False if the client did, None
        if there was none."""
        then_sent = self._protocol.close_rcvd_then_sent
        return then_sent if then_sent is not None else None

    # -- internals -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        """Feed bytes to the protocol until EOF, so pings are answered while the caller is
        busy sending, and queue what comes in."""
        protocol = self._protocol
        try:
            while True:
                try:
                    data = await self._reader.read(_READ_SIZE)
                except (ConnectionError, ssl_module.SSLError, OSError):
                    data = b""
                if not data:
                    protocol.receive_eof()
                    self._write_pending()
                    break
                protocol.receive_data(data)
                self._handle_events(protocol.events_received())
                self._write_pending()
                if protocol.state is State.CLOSED:
                    break
        finally:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._frames.put_nowait(None)
            self._done.set()

    def _handle_events(self, events: Sequence[object]) -> None:
        for event in events:
            if not isinstance(event, Frame):
                continue
            frame = (
                event if isinstance(event.data, bytes) else replace(event, data=bytes(event.data))
            )
            self._observe("in", frame.opcode, frame.fin, bytes(frame.data))
            # The protocol answered these itself; make the answers visible to the observer.
            if frame.opcode is Opcode.PING:
                self._observe("out", Opcode.PONG, True, bytes(frame.data))
            elif frame.opcode is Opcode.CLOSE and self._protocol.close_rcvd_then_sent:
                self._observe("out", Opcode.CLOSE, True, bytes(frame.data))
            self._frames.put_nowait(frame)

    def _observe(self, direction: Direction, opcode: Opcode, fin: bool, payload: bytes) -> None:
        if self._observer is not None:
            self._observer(direction, time.monotonic(), opcode, fin, payload)

    def _write_pending(self) -> None:
        for chunk in self._protocol.data_to_send():
            if chunk:
                if not self._writer.is_closing():
                    self._writer.write(chunk)
            elif self._writer.can_write_eof():
                with contextlib.suppress(OSError):
                    self._writer.write_eof()

    async def _flush(self) -> None:
        if self._writer.is_closing():
            raise ConnectionClosed("the TCP connection is closed")
        self._write_pending()
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosed(str(exc) or type(exc).__name__) from exc


async def connect(
    url: str,
    headers: HeaderItems = (),
    *,
    ssl: ssl_module.SSLContext | None = None,
    timeout: float = 10.0,
    observer: FrameObserver | None = None,
    on_handshake: HandshakeObserver | None = None,
    max_size: int | None = DEFAULT_MAX_SIZE,
) -> Connection | HandshakeRefused:
    """Open a WebSocket to ``url`` (ws, wss, http or https) with extra request ``headers``.

    No subprotocol and no extension are offered (spec §1.1). A non-101 answer is returned as
    :class:`HandshakeRefused`; a broken handshake raises :class:`HandshakeError`, a network
    failure ``OSError``, a slow server ``TimeoutError``. ``on_handshake`` sees the request
    and the answer before ``observer`` sees the first frame.
    """
    uri = parse_uri(websocket_url(url))
    protocol = ClientProtocol(uri, max_size=max_size)
    request = protocol.connect()
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        request.headers[name] = value
    context = (ssl or ssl_module.create_default_context()) if uri.secure else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            uri.host, uri.port, ssl=context, server_hostname=uri.host if context else None
        ),
        timeout,
    )
    try:
        sent_at = time.monotonic()
        protocol.send_request(request)
        response, events = await asyncio.wait_for(_handshake(protocol, reader, writer), timeout)
        if on_handshake is not None:
            on_handshake(
                Handshake(
                    url,
                    request.headers,
                    response.status_code,
                    response.reason_phrase,
                    response.headers,
                    bytes(response.body or b""),
                    sent_at,
                    time.monotonic(),
                )
            )
    except BaseException:
        writer.transport.abort()
        raise
    if isinstance(protocol.handshake_exc, InvalidStatus):
        writer.close()
        return HandshakeRefused(
            response.status_code, response.reason_phrase, response.headers, bytes(response.body)
        )
    if protocol.handshake_exc is not None:
        writer.close()
        raise HandshakeError(str(protocol.handshake_exc)) from protocol.handshake_exc
    return Connection(protocol, reader, writer, response, events, observer)


async def _handshake(
    protocol: ClientProtocol, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[Response, list[object]]:
    """Read until the HTTP response is parsed; return it with the events after it (frames
    a fast server sent in the same TCP segment)."""
    for chunk in protocol.data_to_send():
        writer.write(chunk)
    await writer.drain()
    while True:
        data = await reader.read(_READ_SIZE)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        events: list[object] = list(protocol.events_received())
        for index, event in enumerate(events):
            if isinstance(event, Response):
                return event, events[index + 1 :]
        if not data:
            raise HandshakeError(
                str(protocol.handshake_exc or "connection closed during the handshake")
            )


@dataclass
class Message:
    """A reassembled data message and how it travelled."""

    opcode: Opcode
    data: bytes
    frames: int

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass
class MessageAssembler:
    """Turn data frames into messages, remembering how many frames each one had (legacy
    TTS must arrive as one message in several frames, TS2)."""

    _opcode: Opcode | None = None
    _parts: list[bytes] = field(default_factory=list)

    def feed(self, frame: Frame) -> Message | None:
        """Take the next frame; return the message it completes. Control frames are
        ignored; a protocol violation raises ValueError."""
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            if self._opcode is not None:
                raise ValueError("a new data frame arrived inside a fragmented message")
            self._opcode = frame.opcode
        elif frame.opcode is Opcode.CONT:
            if self._opcode is None:
                raise ValueError("a continuation frame arrived outside a message")
        else:
            return None
        self._parts.append(bytes(frame.data))
        if not frame.fin:
            return None
        message = Message(self._opcode, b"".join(self._parts), len(self._parts))
        self._opcode, self._parts = None, []
        return message
