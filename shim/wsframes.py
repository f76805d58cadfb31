"""A sans-I/O WebSocket frame codec for the server side of the legacy endpoint (RFC 6455).

Why not aiohttp's WebSocket layer: it hands over *messages*, reassembled at FIN, so a client
that streams one never-finished fragmented message (the Java quickstart) would never be
heard, and it cannot send one binary message as several frames (the legacy TTS framing).

Why not the sans-I/O protocol of ``websockets`` (which the harness uses as a *client*): as a
server it answers a Close at once, and it fails a Close that arrives inside an unfinished
fragmented message with 1002. Legacy clients need the opposite on both counts: the Java
quickstart's audio is one message it never finishes, and after a client's Close the server
still owes it every pending result before it echoes the Close (ER1). It also buffers each
frame whole before handing it over.

This parser hands over a data frame's payload in pieces as the bytes arrive, so nothing
waits for a frame to complete (AI3) and no frame is ever buffered whole.

Memory: the parser holds at most one frame header (14 bytes) and one control frame's
payload (125 bytes), whatever the client sends; data is unmasked and passed on at once.
After a protocol error it holds nothing and discards every later byte.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass


class Opcode(enum.IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


CONTROL = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})
MAX_CONTROL_PAYLOAD = 125
_MAX_HEADER = 14  # 2 + 8 (64-bit length) + 4 (mask)
CLOSE_NO_STATUS = 1005  # RFC 6455 §7.1.5: a Close without a status code


class FrameError(ValueError):
    """The peer broke RFC 6455: the connection must be closed with 1002."""


class InvalidPayload(FrameError):
    """Text that is not UTF-8 where RFC 6455 requires it (a Close reason): close with 1007."""


@dataclass(frozen=True)
class DataChunk:
    """A piece of a data message's payload, as it arrived."""

    opcode: Opcode  # TEXT or BINARY: the message's opcode, also for its continuation frames
    data: bytes
    message_start: bool  # the first bytes of a new message
    message_end: bool  # the last bytes of the message (its FIN frame is complete)
    frame_end: bool = True  # the last bytes of a frame (captures keep the client's framing)


@dataclass(frozen=True)
class Control:
    """A complete control frame: Ping, Pong or Close."""

    opcode: Opcode
    payload: bytes


ParsedFrame = DataChunk | Control


def _unmask(payload: bytes | memoryview, mask: bytes, offset: int = 0) -> bytes:
    """XOR with the 4-byte mask, starting ``offset`` bytes into the frame's payload."""
    if not payload:
        return b""
    shift = offset % 4
    key = mask[shift:] + mask[:shift]
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    # XOR via big integers: far faster in CPython than a per-byte loop.
    value = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return value.to_bytes(len(payload), "little")


def _header_length(second: int) -> int:
    """A frame header's whole length, from its second byte (mask bit, length code)."""
    length = second & 0x7F
    extra = 2 if length == 126 else 8 if length == 127 else 0
    return 2 + extra + (4 if second & 0x80 else 0)


class FrameParser:
    """Feed bytes from a client; get data chunks and control frames back as they arrive."""

    def __init__(self, *, require_mask: bool = True) -> None:
        self.require_mask = require_mask
        self._header = bytearray()  # the bytes of a frame header not yet complete
        self._control = bytearray()  # a control frame's payload not yet complete
        self._opcode = Opcode.CONTINUATION  # the frame being read
        self._fin = True
        self._mask = b""
        self._remaining = 0  # payload bytes of the current frame still to come
        self._offset = 0  # payload bytes of the current frame already read
        self._in_payload = False
        self._message: Opcode | None = None  # the data message in progress, if any
        self._message_started = False  # its first chunk was handed over
        self.failed = False

    def feed(self, data: bytes) -> list[ParsedFrame]:
        """Parse ``data``; raises :class:`FrameError` once, then discards all input."""
        if self.failed:
            return []
        out: list[ParsedFrame] = []
        view = memoryview(data)
        try:
            while True:
                if not self._in_payload:
                    view = self._read_header(view)
                    if not self._in_payload:
                        return out
                    if self._remaining == 0:
                        self._finish_frame(b"", out)
                        continue
                if not view:
                    return out
                take = min(len(view), self._remaining)
                self._take_payload(view[:take], out)
                view = view[take:]
        except FrameError:
            self._fail()
            raise

    def _fail(self) -> None:
        self.failed = True
        self._header = bytearray()
        self._control = bytearray()

    # ---- header ------------------------------------------------------------------------------
    def _read_header(self, view: memoryview) -> memoryview:
        """Consume header bytes; set ``_in_payload`` once the header is complete."""
        if not self._header and len(view) >= 2:
            # The common case, a whole header at hand: no copying byte by byte.
            need = _header_length(view[1])
            if len(view) >= need:
                self._check_first_two(view[0], view[1])
                self._start_frame(bytes(view[:need]))
                return view[need:]
        header = self._header
        need = 2 if len(header) < 2 else _header_length(header[1])
        while len(header) < need and view:
            take = min(need - len(header), len(view))
            header += view[:take]
            view = view[take:]
            if len(header) == 2:
                self._check_first_two(header[0], header[1])
                need = _header_length(header[1])
        if len(header) >= need:
            self._header = bytearray()
            self._start_frame(bytes(header))
        return view

    def _check_first_two(self, first: int, second: int) -> None:
        if first & 0x70:
            raise FrameError("reserved bits set (no extension was negotiated)")
        try:
            opcode = Opcode(first & 0x0F)
        except ValueError:
            raise FrameError(f"unknown opcode {first & 0x0F:#x}") from None
        if self.require_mask and not second & 0x80:
            raise FrameError("client frames must be masked")
        if opcode in CONTROL and ((second & 0x7F) > MAX_CONTROL_PAYLOAD or not first & 0x80):
            raise FrameError("control frames must be short and unfragmented")
        if opcode == Opcode.CONTINUATION and self._message is None:
            raise FrameError("continuation frame without a message to continue")
        if opcode in (Opcode.TEXT, Opcode.BINARY) and self._message is not None:
            raise FrameError("new data message before the previous one finished")

    def _start_frame(self, header: bytes) -> None:
        first, second = header[0], header[1]
        length = second & 0x7F
        position = 2
        if length == 126:
            (length,) = struct.unpack_from(">H", header, 2)
            position = 4
        elif length == 127:
            (length,) = struct.unpack_from(">Q", header, 2)
            position = 10
            if length >> 63:
                raise FrameError("64-bit payload length with its most significant bit set")
        self._opcode = Opcode(first & 0x0F)
        self._fin = bool(first & 0x80)
        self._mask = header[position : position + 4] if second & 0x80 else b""
        self._remaining = length
        self._offset = 0
        self._in_payload = True
        if self._opcode in (Opcode.TEXT, Opcode.BINARY):
            self._message = self._opcode
            self._message_started = False

    # ---- payload -----------------------------------------------------------------------------
    def _take_payload(self, piece: memoryview, out: list[ParsedFrame]) -> None:
        data = _unmask(piece, self._mask, self._offset) if self._mask else bytes(piece)
        self._offset += len(piece)
        self._remaining -= len(piece)
        if self._opcode in CONTROL:
            self._control += data
            if self._remaining == 0:
                self._finish_frame(bytes(self._control), out)
            return
        if self._remaining == 0:
            self._finish_frame(data, out)
        else:
            out.append(self._chunk(data, end=False, frame_end=False))

    def _finish_frame(self, data: bytes, out: list[ParsedFrame]) -> None:
        self._in_payload = False
        if self._opcode in CONTROL:
            self._control = bytearray()
            if self._opcode == Opcode.CLOSE:
                parse_close(data)  # an invalid Close fails the connection (RFC 6455 §7.4)
            out.append(Control(self._opcode, data))
            return
        end = self._fin
        out.append(self._chunk(data, end=end))
        if end:
            self._message = None

    def _chunk(self, data: bytes, *, end: bool, frame_end: bool = True) -> DataChunk:
        assert self._message is not None
        start = not self._message_started
        self._message_started = True
        return DataChunk(self._message, data, start, end, frame_end)


def encode_frame(opcode: Opcode, payload: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    """One frame; servers send unmasked frames, clients masked ones."""
    length = len(payload)
    first = (0x80 if fin else 0) | int(opcode)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = struct.pack(">BB", first, mask_bit | length)
    elif length < 65536:
        header = struct.pack(">BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack(">BBQ", first, mask_bit | 127, length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + _unmask(payload, key)


def encode_message(opcode: Opcode, fragments: list[bytes]) -> bytes:
    """One data message as several frames: ``opcode`` FIN=0, continuations, FIN=1 last."""
    if not fragments:
        return encode_frame(opcode, b"")
    parts = []
    for index, fragment in enumerate(fragments):
        parts.append(
            encode_frame(
                opcode if index == 0 else Opcode.CONTINUATION,
                fragment,
                fin=index == len(fragments) - 1,
            )
        )
    return b"".join(parts)


def close_payload(code: int, reason: str = "") -> bytes:
    data = reason.encode("utf-8")[: MAX_CONTROL_PAYLOAD - 2]
    return struct.pack(">H", code) + data.decode("utf-8", errors="ignore").encode("utf-8")


def close_code_allowed(code: int) -> bool:
    """Whether a peer may send ``code`` in its Close frame (RFC 6455 §7.4): the defined codes
    but 1004 (reserved) and 1005, 1006, 1015 (never on the wire); 1012-1014 as registered with
    IANA since; 3000-4999 for libraries and applications. 0-999, 1016-2999 and 5000+ never."""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


def parse_close(payload: bytes) -> tuple[int, str]:
    """A Close frame's code and reason; raises :class:`FrameError` for a 1-byte payload or a
    code a peer may not send, :class:`InvalidPayload` for a reason that is not UTF-8."""
    if not payload:
        return CLOSE_NO_STATUS, ""
    if len(payload) == 1:
        raise FrameError("a Close payload of 1 byte (a code takes 2)")
    (code,) = struct.unpack_from(">H", payload)
    if not close_code_allowed(code):
        raise FrameError(f"close code {code} may not be sent by an endpoint")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("the Close reason is not valid UTF-8") from None
    return code, reason
