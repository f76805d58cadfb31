"""A sans-I/O WebSocket frame codec for the server side of the legacy endpoint (RFC 6455).

Why not the WebSocket layer of aiohttp: it hands over *messages*, reassembled at FIN, so
a client that streams one never-finished fragmented message (the Java quickstart) would
never be heard, and it cannot send one binary message as several frames (the legacy TTS
framing). This codec yields every frame as it arrives and encodes frames with any FIN.

Memory: the parser keeps at most one incomplete frame (bounded by ``max_frame_size``).
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


CONTROL = {Opcode.CLOSE, Opcode.PING, Opcode.PONG}
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_TOO_BIG = 1009


class FrameError(ValueError):
    """The peer broke RFC 6455; close with ``code``."""

    def __init__(self, message: str, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Frame:
    opcode: Opcode
    payload: bytes
    fin: bool = True


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    # XOR via big integers: far faster in CPython than a per-byte loop.
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return value.to_bytes(len(payload), "little")


class FrameParser:
    """Feed bytes from a client; get complete frames back, one by one, as they arrive."""

    def __init__(self, *, max_frame_size: int = 16 * 1024 * 1024, require_mask: bool = True):
        self.max_frame_size = max_frame_size
        self.require_mask = require_mask
        self._buffer = bytearray()
        self._in_message = False  # a data message was started and not finished

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def _next(self) -> Frame | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        first, second = buffer[0], buffer[1]
        fin = bool(first & 0x80)
        if first & 0x70:
            raise FrameError("reserved bits set (no extension was negotiated)")
        try:
            opcode = Opcode(first & 0x0F)
        except ValueError:
            raise FrameError(f"unknown opcode {first & 0x0F:#x}") from None
        masked = bool(second & 0x80)
        if self.require_mask and not masked:
            raise FrameError("client frames must be masked")
        length = second & 0x7F
        position = 2
        if length == 126:
            if len(buffer) < 4:
                return None
            (length,) = struct.unpack_from(">H", buffer, 2)
            position = 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            (length,) = struct.unpack_from(">Q", buffer, 2)
            position = 10
        if opcode in CONTROL and (length > 125 or not fin):
            raise FrameError("control frames must be short and unfragmented")
        if length > self.max_frame_size:
            raise FrameError(f"frame of {length} bytes exceeds the limit", CLOSE_TOO_BIG)
        mask = b""
        if masked:
            if len(buffer) < position + 4:
                return None
            mask = bytes(buffer[position : position + 4])
            position += 4
        if len(buffer) < position + length:
            return None
        payload = bytes(buffer[position : position + length])
        del buffer[: position + length]
        if masked:
            payload = _unmask(payload, mask)
        if opcode == Opcode.CONTINUATION and not self._in_message:
            raise FrameError("continuation frame without a message to continue")
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            if self._in_message:
                raise FrameError("new data message before the previous one finished")
            self._in_message = not fin
        elif opcode == Opcode.CONTINUATION and fin:
            self._in_message = False
        return Frame(opcode, payload, fin)


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
    data = reason.encode("utf-8")[:123]
    return struct.pack(">H", code) + data


def parse_close(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return 1005, ""  # no status received
    (code,) = struct.unpack_from(">H", payload)
    return code, payload[2:].decode("utf-8", errors="replace")
