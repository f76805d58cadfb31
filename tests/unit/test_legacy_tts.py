"""TTS segments (TS1–TS3): SDK synthesizing chunks → one 46-byte-header WAV in ≥ 2 frames."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import numpy.typing as npt
import pytest
import soxr
from hypothesis import given
from hypothesis import strategies as st

from shim.legacy.errors import CloseCode, Failure, SessionError, close_for_error
from shim.legacy.tts import WAV_HEADER_BYTES, TtsSegment, fragment, wav_header

pytestmark = pytest.mark.unit


def sdk_chunk(
    pcm: bytes, *, rate: int = 16_000, channels: int = 1, data_size: int | None = None
) -> bytes:
    """A synthesizing chunk as the SDK hands it out: a small RIFF file of its own."""
    block = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, 16)
    size = len(pcm) if data_size is None else data_size
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


def speech_like(seconds: float) -> npt.NDArray[np.int16]:
    """Two tones at 16 kHz: enough structure for a correlation check."""
    t = np.arange(int(16_000 * seconds)) / 16_000
    tones = 6_000 * np.sin(2 * np.pi * 220 * t) + 3_000 * np.sin(2 * np.pi * 1_330 * t)
    samples: npt.NDArray[np.int16] = tones.astype(np.int16)
    return samples


def read_wav(data: bytes) -> tuple[tuple[int, int, int], bytes]:
    with wave.open(io.BytesIO(data), "rb") as reader:
        params = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth())
        return params, reader.readframes(reader.getnframes())


def assert_legacy_wav(data: bytes) -> None:
    """TS3: RIFF size = length − 8, an 18-byte fmt chunk with cbSize 0, data size right."""
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    assert struct.unpack_from("<I", data, 16)[0] == 18
    tag, channels, rate, byte_rate, block, bits, cb_size = struct.unpack_from("<HHIIHHH", data, 20)
    assert (tag, channels, rate, byte_rate, block, bits, cb_size) == (
        1,
        1,
        16_000,
        32_000,
        2,
        16,
        0,
    )
    assert data[38:42] == b"data"
    assert struct.unpack_from("<I", data, 42)[0] == len(data) - WAV_HEADER_BYTES


# -- the WAV file (TS3) ---------------------------------------------------------------------


def test_header_is_46_bytes_like_the_recorded_service_TS3() -> None:
    header = wav_header(85_088)
    assert len(header) == WAV_HEADER_BYTES == 46
    # NOOP README, a real segment: 52 49 46 46 86 4c 01 00 57 41 56 45 66 6d 74 20 12 00 00 00
    assert header[:20] == bytes.fromhex(
        "524946468 64c0100 57415645 666d7420 12000000".replace(" ", "")
    )


def test_sdk_chunks_with_their_own_headers_become_one_wav_TS3() -> None:
    pcm = speech_like(1.2).tobytes()
    segment = TtsSegment()
    for start in range(0, len(pcm), 4_800):
        segment.add_chunk(sdk_chunk(pcm[start : start + 4_800]))
    data = segment.wav()
    assert_legacy_wav(data)
    assert data[WAV_HEADER_BYTES:] == pcm
    assert read_wav(data) == ((16_000, 1, 2), pcm)


def test_header_only_chunk_then_raw_continuation_chunks_TS3() -> None:
    pcm = speech_like(0.5).tobytes()
    segment = TtsSegment()
    segment.add_chunk(sdk_chunk(b"", data_size=0))
    for start in range(0, len(pcm), 1_001):  # odd sizes: samples split across chunks
        segment.add_chunk(pcm[start : start + 1_001])
    assert segment.wav()[WAV_HEADER_BYTES:] == pcm


def test_chunks_with_streaming_sizes_and_headerless_chunks_mix_TS3() -> None:
    pcm = speech_like(0.3).tobytes()
    segment = TtsSegment()
    segment.add_chunk(sdk_chunk(pcm[:2_000], data_size=0xFFFFFFFF))
    segment.add_chunk(pcm[2_000:4_000])
    segment.add_chunk(sdk_chunk(pcm[4_000:], data_size=0))
    assert segment.wav()[WAV_HEADER_BYTES:] == pcm


def test_headerless_chunks_are_taken_as_16_khz_mono_TS3() -> None:
    pcm = speech_like(0.2).tobytes()
    segment = TtsSegment()
    segment.add_chunk(pcm[:1_000])
    segment.add_chunk(pcm[1_000:])
    assert segment.wav()[WAV_HEADER_BYTES:] == pcm


@pytest.mark.parametrize(("rate", "channels"), [(24_000, 1), (48_000, 2), (22_050, 1)])
def test_other_sdk_formats_are_resampled_to_16_khz_mono_TS3(rate: int, channels: int) -> None:
    reference = speech_like(1.0)
    source = soxr.resample(reference.astype(np.float32) / 32768, 16_000, rate, quality="VHQ")
    frames = np.repeat((source * 32768).astype("<i2")[:, None], channels, axis=1).tobytes()
    segment = TtsSegment()
    step = 4_096 * channels
    for start in range(0, len(frames), step):
        segment.add_chunk(sdk_chunk(frames[start : start + step], rate=rate, channels=channels))
    data = segment.wav()
    assert_legacy_wav(data)
    out = np.frombuffer(data[WAV_HEADER_BYTES:], "<i2")
    assert abs(len(out) - len(reference)) <= 4
    n = min(len(out), len(reference))
    assert np.corrcoef(out[:n], reference[:n])[0, 1] > 0.999


def test_empty_chunks_are_ignored_TS3() -> None:
    pcm = speech_like(0.1).tobytes()
    segment = TtsSegment()
    segment.add_chunk(b"")
    segment.add_chunk(sdk_chunk(pcm))
    segment.add_chunk(b"")
    assert segment.wav()[WAV_HEADER_BYTES:] == pcm


def test_segment_without_audio_is_a_valid_empty_wav_TS3() -> None:
    data = TtsSegment().wav()
    assert len(data) == WAV_HEADER_BYTES
    assert_legacy_wav(data)


def test_pcm_bytes_counts_collected_audio() -> None:
    segment = TtsSegment()
    segment.add_chunk(sdk_chunk(bytes(640)))
    assert segment.pcm_bytes == 640


def test_wav_is_stable_and_closes_the_segment_TS1() -> None:
    segment = TtsSegment()
    segment.add_chunk(sdk_chunk(bytes(320)))
    first = segment.wav()
    assert segment.wav() == first
    with pytest.raises(RuntimeError):
        segment.add_chunk(sdk_chunk(bytes(320)))


def test_unreadable_sdk_audio_is_a_backend_error_not_the_clients_fault_ER4() -> None:
    mu_law = sdk_chunk(bytes(100)).replace(b"\x01\x00\x01\x00", b"\x07\x00\x01\x00", 1)
    segment = TtsSegment()
    with pytest.raises(SessionError) as caught:
        segment.add_chunk(mu_law)
    assert caught.value.failure is Failure.BACKEND_ERROR
    close = close_for_error(caught.value)
    assert close.code == CloseCode.INTERNAL_ERROR
    assert "mu-law" not in close.reason


# -- frames of one message (TS2) ------------------------------------------------------------


def test_small_payload_still_spans_two_frames_TS2() -> None:
    data = TtsSegment().wav()
    frames = fragment(data)
    assert len(frames) == 2
    assert b"".join(frames) == data


def test_large_payload_is_cut_at_the_frame_size_TS2() -> None:
    payload = bytes(range(256)) * 200  # 51,200 bytes
    frames = fragment(payload)
    assert [len(frame) for frame in frames] == [16_384, 16_384, 16_384, 2_048]
    assert b"".join(frames) == payload


def test_payload_of_exactly_one_frame_size_is_split_in_two_TS2() -> None:
    assert [len(f) for f in fragment(bytes(16_384))] == [8_192, 8_192]
    assert [len(f) for f in fragment(bytes(32_768))] == [16_384, 16_384]


@pytest.mark.parametrize(("payload", "frame_size"), [(b"", 10), (b"x", 10), (b"xyz", 0)])
def test_payload_that_cannot_make_two_frames_is_refused_TS2(
    payload: bytes, frame_size: int
) -> None:
    with pytest.raises(ValueError):
        fragment(payload, frame_size)


@given(payload=st.binary(min_size=2, max_size=5_000), frame_size=st.integers(1, 6_000))
def test_frames_are_at_least_two_non_empty_bounded_and_lossless_TS2(
    payload: bytes, frame_size: int
) -> None:
    frames = fragment(payload, frame_size)
    assert len(frames) >= 2
    assert all(0 < len(frame) <= frame_size for frame in frames)
    assert b"".join(frames) == payload
