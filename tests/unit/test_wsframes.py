"""The server-side WebSocket frame codec: every frame as it arrives, any FIN when sending."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.wsframes import (
    Frame,
    FrameError,
    FrameParser,
    Opcode,
    close_payload,
    encode_frame,
    encode_message,
    parse_close,
)

pytestmark = pytest.mark.unit


def masked(opcode: Opcode, payload: bytes, fin: bool = True) -> bytes:
    return encode_frame(opcode, payload, fin=fin, mask=True)


def test_fragments_of_an_unfinished_message_are_delivered_as_they_arrive_AI3() -> None:
    parser = FrameParser()
    first = parser.feed(masked(Opcode.BINARY, b"RIFF" + bytes(156), fin=False))
    more = parser.feed(masked(Opcode.CONTINUATION, bytes(160), fin=False))
    assert [f.fin for f in first + more] == [False, False]
    assert first[0].payload[:4] == b"RIFF" and len(more[0].payload) == 160


def test_frames_split_at_every_byte_boundary_parse_the_same() -> None:
    stream = (
        masked(Opcode.BINARY, bytes(range(256)) * 300, fin=False)
        + masked(Opcode.CONTINUATION, b"tail", fin=True)
        + masked(Opcode.PING, b"p")
    )
    whole = FrameParser().feed(stream)
    parser = FrameParser()
    pieces = [f for i in range(0, len(stream), 7) for f in parser.feed(stream[i : i + 7])]
    assert pieces == whole
    assert [f.opcode for f in whole] == [Opcode.BINARY, Opcode.CONTINUATION, Opcode.PING]
    assert whole[0].payload == bytes(range(256)) * 300


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536, 3_200_000])
def test_every_length_encoding_round_trips(length: int) -> None:
    payload = bytes(length)
    (frame,) = FrameParser().feed(masked(Opcode.BINARY, payload))
    assert frame == Frame(Opcode.BINARY, payload, True)


def test_a_tts_message_is_one_opcode_2_frame_then_continuations_TS2() -> None:
    data = encode_message(Opcode.BINARY, [b"a" * 10, b"b" * 10, b"c" * 5])
    frames = FrameParser(require_mask=False).feed(data)
    assert [(f.opcode, f.fin) for f in frames] == [
        (Opcode.BINARY, False),
        (Opcode.CONTINUATION, False),
        (Opcode.CONTINUATION, True),
    ]
    assert data[0] == 0x02 and data[12] == 0x00  # FIN bit clear on the first two frames


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (encode_frame(Opcode.BINARY, b"x"), 1002),  # unmasked client frame
        (masked(Opcode.CONTINUATION, b"x"), 1002),  # nothing to continue
        (masked(Opcode.BINARY, b"x", fin=False) + masked(Opcode.TEXT, b"y"), 1002),
        (bytes([0x83, 0x80, 0, 0, 0, 0]), 1002),  # unknown opcode
        (bytes([0xC2, 0x80, 0, 0, 0, 0]), 1002),  # RSV1 without an extension
        (bytes([0x09, 0x80, 0, 0, 0, 0]), 1002),  # fragmented ping
        (bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 40) + bytes(4), 1009),
    ],
)
def test_protocol_violations_name_their_close_code(data: bytes, code: int) -> None:
    with pytest.raises(FrameError) as error:
        FrameParser().feed(data)
    assert error.value.code == code


def test_close_payload_round_trips_and_truncates_long_reasons() -> None:
    assert parse_close(close_payload(1003, "bad audio")) == (1003, "bad audio")
    assert len(close_payload(1000, "é" * 200)) <= 125
    assert parse_close(b"") == (1005, "")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_ever_raise_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        FrameParser().feed(data)
