"""The server-side WebSocket frame codec: data as it arrives, any FIN when sending."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.wsframes import (
    Control,
    DataChunk,
    FrameError,
    FrameParser,
    InvalidPayload,
    Opcode,
    ParsedFrame,
    close_payload,
    encode_frame,
    encode_message,
    parse_close,
)

pytestmark = pytest.mark.unit


def masked(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return encode_frame(opcode, payload, fin=fin, mask=True)


def messages(frames: list[ParsedFrame]) -> list[tuple[Opcode, bytes]]:
    """Reassemble data chunks into messages (for comparing parses), controls as they are."""
    out: list[tuple[Opcode, bytes]] = []
    current = bytearray()
    for frame in frames:
        if isinstance(frame, Control):
            out.append((frame.opcode, frame.payload))
            continue
        if frame.message_start:
            current = bytearray()
        current += frame.data
        if frame.message_end:
            out.append((frame.opcode, bytes(current)))
    return out


def test_fragments_of_an_unfinished_message_are_delivered_as_they_arrive_AI3() -> None:
    parser = FrameParser()
    first = parser.feed(masked(Opcode.BINARY, b"RIFF" + bytes(156), fin=False))
    more = parser.feed(masked(Opcode.CONTINUATION, bytes(160), fin=False))
    assert [(c.opcode, c.message_start, c.message_end) for c in first + more] == [  # type: ignore[union-attr]
        (Opcode.BINARY, True, False),
        (Opcode.BINARY, False, False),
    ]
    assert first[0].data[:4] == b"RIFF" and len(more[0].data) == 160  # type: ignore[union-attr]


def test_a_frame_is_handed_over_in_pieces_before_it_is_complete_AI3() -> None:
    frame = masked(Opcode.BINARY, bytes(range(256)) * 100)
    parser = FrameParser()
    head = parser.feed(frame[:1000])
    assert len(head) == 1 and isinstance(head[0], DataChunk)
    assert head[0].message_start and not head[0].message_end
    assert head[0].data == (bytes(range(256)) * 100)[: 1000 - 8]  # header: 2 + 2 + 4 mask
    tail = parser.feed(frame[1000:])
    assert isinstance(tail[0], DataChunk) and tail[0].message_end


def test_frames_split_at_every_byte_boundary_parse_the_same() -> None:
    stream = (
        masked(Opcode.BINARY, bytes(range(256)) * 300, fin=False)
        + masked(Opcode.PING, b"p")
        + masked(Opcode.CONTINUATION, b"tail", fin=True)
        + masked(Opcode.BINARY, b"")
    )
    whole = FrameParser().feed(stream)
    parser = FrameParser()
    pieces = [f for i in range(0, len(stream), 7) for f in parser.feed(stream[i : i + 7])]
    assert messages(pieces) == messages(whole)
    assert messages(whole) == [
        (Opcode.PING, b"p"),
        (Opcode.BINARY, bytes(range(256)) * 300 + b"tail"),
        (Opcode.BINARY, b""),
    ]


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536, 3_200_000])
def test_every_length_encoding_round_trips(length: int) -> None:
    payload = bytes(range(251)) * (length // 251) + bytes(length % 251)
    assert messages(FrameParser().feed(masked(Opcode.BINARY, payload))) == [
        (Opcode.BINARY, payload)
    ]


def test_a_tts_message_is_one_opcode_2_frame_then_continuations_TS2() -> None:
    data = encode_message(Opcode.BINARY, [b"a" * 10, b"b" * 10, b"c" * 5])
    chunks = FrameParser(require_mask=False).feed(data)
    assert [(c.message_start, c.message_end) for c in chunks] == [  # type: ignore[union-attr]
        (True, False),
        (False, False),
        (False, True),
    ]
    assert data[0] == 0x02 and data[12] == 0x00  # FIN bit clear on the first two frames


@pytest.mark.parametrize(
    "data",
    [
        encode_frame(Opcode.BINARY, b"x"),  # unmasked client frame
        masked(Opcode.CONTINUATION, b"x"),  # nothing to continue
        masked(Opcode.BINARY, b"x", fin=False) + masked(Opcode.TEXT, b"y"),
        bytes([0x83, 0x80, 0, 0, 0, 0]),  # unknown opcode
        bytes([0xC2, 0x80, 0, 0, 0, 0]),  # RSV1 without an extension
        bytes([0x09, 0x80, 0, 0, 0, 0]),  # fragmented ping
        bytes([0x89, 0xFE, 0, 200]) + bytes(4),  # ping longer than 125 bytes
        bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 63) + bytes(4),  # length MSB set
    ],
)
def test_protocol_violations_raise_frame_error(data: bytes) -> None:
    with pytest.raises(FrameError):
        FrameParser().feed(data)


def test_after_a_protocol_error_everything_is_discarded() -> None:
    parser = FrameParser()
    with pytest.raises(FrameError):
        parser.feed(encode_frame(Opcode.BINARY, b"unmasked"))
    assert parser.failed
    assert parser.feed(masked(Opcode.BINARY, bytes(1 << 20))) == []
    assert parser.feed(masked(Opcode.CLOSE, close_payload(1000))) == []


def test_a_huge_frame_header_is_streamed_not_buffered() -> None:
    parser = FrameParser()
    header = bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 40) + b"\0\0\0\0"
    out = parser.feed(header + bytes(1 << 16))
    assert sum(len(c.data) for c in out if isinstance(c, DataChunk)) == 1 << 16
    assert len(parser._header) == 0 and len(parser._control) == 0


def test_close_payload_round_trips_and_truncates_long_reasons() -> None:
    assert parse_close(close_payload(1003, "bad audio")) == (1003, "bad audio")
    assert len(close_payload(1000, "é" * 200)) <= 125
    assert parse_close(close_payload(1000, "é" * 200))[1] == "é" * 61
    assert parse_close(b"") == (1005, "")


INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_a_close_code_an_endpoint_may_not_send_is_a_protocol_error(code: int) -> None:
    with pytest.raises(FrameError) as raised:
        FrameParser().feed(masked(Opcode.CLOSE, struct.pack(">H", code) + b"bye"))
    assert not isinstance(raised.value, InvalidPayload)  # 1002, not 1007


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999])
def test_close_codes_an_endpoint_may_send_are_accepted(code: int) -> None:
    (frame,) = FrameParser().feed(masked(Opcode.CLOSE, struct.pack(">H", code)))
    assert parse_close(frame.payload) == (code, "")


def test_a_one_byte_close_payload_is_a_protocol_error() -> None:
    with pytest.raises(FrameError) as raised:
        FrameParser().feed(masked(Opcode.CLOSE, b"\x03"))
    assert not isinstance(raised.value, InvalidPayload)


@pytest.mark.parametrize("reason", [b"\xff", b"\xc3", b"ok\xed\xa0\x80", b"\xf4\x90\x80\x80"])
def test_a_close_reason_that_is_not_utf8_is_invalid_payload_1007(reason: bytes) -> None:
    with pytest.raises(InvalidPayload):
        FrameParser().feed(masked(Opcode.CLOSE, struct.pack(">H", 1000) + reason))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=64))
def test_random_bytes_only_ever_raise_frame_error_and_hold_little(data: bytes, step: int) -> None:
    parser = FrameParser()
    with contextlib.suppress(FrameError):
        for start in range(0, len(data), step):
            parser.feed(data[start : start + step])
            assert len(parser._header) <= 14 and len(parser._control) <= 125
