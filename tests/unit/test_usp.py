"""USP framing: parse/build round trips, strictness, and a fuzz of the parser."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.emulator import usp

pytestmark = pytest.mark.unit


def test_text_message_round_trips_with_case_insensitive_headers() -> None:
    frame = usp.build_text("turn.start", "abc", {"context": {"serviceTag": "x"}})
    message = usp.parse_text(frame)
    assert message.path == "turn.start"
    assert message.headers["x-requestid"] == "abc"
    assert message.headers["X-REQUESTID"] == "abc"
    assert message.json() == {"context": {"serviceTag": "x"}}
    assert "\r\n\r\n" in frame and frame.endswith('{"context":{"serviceTag":"x"}}')


def test_binary_message_has_a_big_endian_header_length_and_crlf_lines() -> None:
    frame = usp.build_binary("audio", "r1", b"\x01\x02", content_type="audio/x-wav")
    (length,) = struct.unpack(">H", frame[:2])
    block = frame[2 : 2 + length].decode("ascii")
    assert block.endswith("\r\n") and "\r\n\r\n" not in block
    message = usp.parse_binary(frame)
    assert (message.path, message.request_id, message.body) == ("audio", "r1", b"\x01\x02")
    assert message.headers["content-type"] == "audio/x-wav"


def test_sdk_audio_frame_with_empty_payload_is_end_of_audio() -> None:
    block = b"Path: audio\r\nX-RequestId: 0123\r\nX-Timestamp: 2026-11-22T00:00:00.000Z\r\n"
    message = usp.parse_binary(struct.pack(">H", len(block)) + block)
    assert message.body == b""


@pytest.mark.parametrize(
    "frame",
    [
        "no headers here",
        "X-RequestId: 1\r\n\r\n{}",  # no Path
        "Path turn.start\r\n\r\n{}",  # no colon
        "Bad Name: x\r\nPath: a\r\n\r\n",
    ],
)
def test_malformed_text_frames_raise_usp_error(frame: str) -> None:
    with pytest.raises(usp.UspError):
        usp.parse_text(frame)


@pytest.mark.parametrize(
    "frame", [b"", b"\x00", b"\x00\x00", b"\x00\x10Path: a", b"\x00\x02\xff\xfe"]
)
def test_malformed_binary_frames_raise_usp_error(frame: bytes) -> None:
    with pytest.raises(usp.UspError):
        usp.parse_binary(frame)


def test_invalid_json_body_is_a_usp_error() -> None:
    with pytest.raises(usp.UspError, match="JSON"):
        usp.parse_text("Path: speech.context\r\n\r\n{oops").json()


def test_builder_refuses_header_injection() -> None:
    with pytest.raises(usp.UspError):
        usp.build_text("turn.start", "a\r\nPath: evil", {})


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_usp_error_binary(data: bytes) -> None:
    try:
        message = usp.parse_binary(data)
    except usp.UspError:
        return
    assert message.path


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_random_text_only_ever_raises_usp_error(data: str) -> None:
    try:
        message = usp.parse_text(data)
        message.json()
    except usp.UspError:
        return


@settings(max_examples=300, deadline=None)
@given(
    path=st.from_regex(r"[a-z][a-z.]{0,20}", fullmatch=True),
    request_id=st.from_regex(r"[0-9a-f]{1,32}", fullmatch=True),
    payload=st.binary(max_size=200),
)
def test_binary_build_then_parse_is_identity(path: str, request_id: str, payload: bytes) -> None:
    message = usp.parse_binary(usp.build_binary(path, request_id, payload))
    assert (message.path, message.request_id, message.body) == (path, request_id, payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=2, max_size=200))
def test_mutated_valid_frames_never_raise_anything_else(noise: bytes) -> None:
    frame = bytearray(usp.build_binary("audio", "abc", b"pcm"))
    for i, byte in enumerate(noise[: len(frame)]):
        frame[(i * 7) % len(frame)] ^= byte
    with contextlib.suppress(usp.UspError):
        usp.parse_binary(bytes(frame))
