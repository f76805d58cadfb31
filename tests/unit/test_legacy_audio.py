"""Input audio normalisation (AI2–AI6): what legacy clients send → 16 kHz mono 16-bit PCM."""

from __future__ import annotations

import itertools
import struct
import wave
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soxr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim import pcmformat
from shim.legacy.audio import MAX_HEADER_BYTES, PCM_16K_MONO, AudioNormalizer, Encoding
from shim.legacy.errors import MAX_CLOSE_REASON_BYTES, Failure, SessionError

pytestmark = pytest.mark.unit

AUDIO = Path("/work/shared/audio")
RECORDINGS = sorted(AUDIO.glob("*.wav"))
LAMP = AUDIO / "en-US_turn-on-the-lamp.wav"  # LIST chunk: data at byte 114
WEATHER = AUDIO / "en-US_whatstheweatherlike.wav"
SUBFORMAT_TAIL = bytes.fromhex("000000001000800000aa00389b71")


# -- building streams -----------------------------------------------------------------------


def chunk(chunk_id: bytes, payload: bytes) -> bytes:
    """A RIFF chunk, padded to an even length."""
    return chunk_id + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def fmt_body(
    *,
    rate: int = 16_000,
    channels: int = 1,
    bits: int = 16,
    tag: int = 1,
    size: int = 16,
    subformat: int | None = None,
) -> bytes:
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if size == 18:
        body += struct.pack("<H", 0)
    elif size == 40:  # WAVE_FORMAT_EXTENSIBLE
        sub = 1 if subformat is None else subformat
        body += struct.pack("<HHIH", 22, bits, 0, sub) + SUBFORMAT_TAIL
    return body


def wav(
    pcm: bytes = b"",
    *,
    fmt: bytes | None = None,
    data_size: int | None = None,
    riff_size: int | None = None,
    before_data: bytes = b"",
    after_data: bytes = b"",
) -> bytes:
    """A RIFF/WAVE stream; sizes default to the real ones (``data_size=0`` for streaming)."""
    body = (
        b"WAVE"
        + chunk(b"fmt ", fmt_body() if fmt is None else fmt)
        + before_data
        + b"data"
        + struct.pack("<I", len(pcm) if data_size is None else data_size)
        + pcm
        + after_data
    )
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


@cache
def recording(path: Path) -> tuple[bytes, bytes]:
    """(file bytes, PCM frames) — the frames read by the standard library as ground truth."""
    with wave.open(str(path), "rb") as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (
            16_000,
            1,
            2,
        )
        frames = reader.readframes(reader.getnframes())
    return path.read_bytes(), frames


def to_float(pcm: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0


def to_int16(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    scaled = np.clip(np.rint(samples * 32768.0), -32768, 32767)
    narrowed: npt.NDArray[np.int16] = scaled.astype(np.int16)
    return narrowed


# -- feeding --------------------------------------------------------------------------------


def run(
    messages: Iterable[bytes | Sequence[bytes]], normalizer: AudioNormalizer | None = None
) -> bytes:
    """Feed messages (each bytes, or a list of its fragments) and finish; return all PCM."""
    normalizer = normalizer or AudioNormalizer()
    out = []
    for message in messages:
        normalizer.start_message()
        for fragment in [message] if isinstance(message, bytes) else message:
            out.append(normalizer.feed(fragment))
    out.append(normalizer.finish())
    result = b"".join(out)
    assert normalizer.pcm_bytes_out == len(result)
    return result


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def expect_failure(messages: Iterable[bytes | Sequence[bytes]], failure: Failure) -> SessionError:
    with pytest.raises(SessionError) as caught:
        run(messages)
    error = caught.value
    assert error.failure is failure
    assert 0 < len(error.message.encode("utf-8")) <= MAX_CLOSE_REASON_BYTES
    return error


def correlation(a: bytes, b: bytes) -> float:
    x, y = to_float(a), to_float(b)
    n = min(len(x), len(y))
    return float(np.corrcoef(x[:n], y[:n])[0, 1])


def resampled_copy(pcm: bytes, rate: int) -> npt.NDArray[np.float32]:
    """The 16 kHz recording as another client would have captured it at ``rate``."""
    resampled: npt.NDArray[np.float32] = soxr.resample(to_float(pcm), 16_000, rate, quality="VHQ")
    return resampled.astype(np.float32)


# -- 16 kHz mono 16-bit: the pass-through (AI2, AI3) ----------------------------------------


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_whole_recording_in_one_message_passes_through_byte_identical_AI2(path: Path) -> None:
    data, frames = recording(path)
    assert run([data]) == frames


def test_list_chunk_before_data_is_skipped_not_assumed_44_bytes_AI2() -> None:
    data, frames = recording(LAMP)
    assert data[36:40] == b"LIST" and data[106:110] == b"data"
    assert run([data]) == data[114:] == frames


def test_header_split_across_160_byte_fragments_is_reassembled_AI3() -> None:
    data, frames = recording(LAMP)
    assert run([pieces(data, 160)]) == frames


def test_stream_fed_one_byte_at_a_time_gives_the_same_pcm_AI3() -> None:
    data, _ = recording(LAMP)
    assert run([pieces(data[:6_000], 1)]) == data[114:6_000]


def test_46_byte_header_message_then_3200_byte_messages_AI2() -> None:
    """The official Python and WPF clients: a streaming 46-byte header alone, then 100 ms."""
    _, frames = recording(WEATHER)
    header = wav(fmt=fmt_body(size=18), data_size=0, riff_size=0)
    assert len(header) == 46
    assert run([header, *pieces(frames, 3_200)]) == frames


@pytest.mark.parametrize(
    ("data_size", "riff_size"), [(0, 0), (0xFFFFFFFF, 0xFFFFFFFF), (0, 0xFFFFFFFF)]
)
def test_streaming_sizes_mean_unbounded_data_AI2(data_size: int, riff_size: int) -> None:
    _, frames = recording(WEATHER)
    header = wav(data_size=data_size, riff_size=riff_size)
    assert len(header) == 44
    # one message holding the header and everything, in 3,200-byte fragments
    assert run([pieces(header + frames, 3_200)]) == frames


def test_44_byte_header_with_real_sizes_alone_then_audio_messages_AI2() -> None:
    """Swift/HOL style: a header with sizes filled in, audio in later messages."""
    _, frames = recording(WEATHER)
    header = wav(data_size=len(frames), riff_size=36 + len(frames))
    assert run([header, *pieces(frames, 6_144)]) == frames


def test_real_data_size_ends_the_data_and_trailing_chunks_are_skipped_AI2() -> None:
    _, frames = recording(WEATHER)
    trailer = chunk(b"LIST", b"INFOISFT\x05\0\0\0Lavf\0") + chunk(b"id3 ", b"\x01\x02\x03")
    assert run([wav(frames, after_data=trailer)]) == frames


def test_csharp_quickstart_whole_file_then_100_s_of_silence_AI4() -> None:
    data, frames = recording(LAMP)
    silence = bytes(3_200_000)
    assert run([data, silence]) == frames + silence


def test_java_client_file_with_real_sizes_continued_in_later_messages_is_raw_audio_AI2() -> None:
    """3,200-byte messages cut from a whole file: only the first carries the header."""
    data, frames = recording(WEATHER)
    assert run(pieces(data, 3_200)) == frames


def test_header_only_message_then_raw_pcm_messages_AI2() -> None:
    _, frames = recording(WEATHER)
    assert run([wav(data_size=0), frames[:1_000], frames[1_000:]]) == frames


def test_header_split_across_two_messages_is_tolerated_AI2() -> None:
    _, frames = recording(WEATHER)
    header = wav(fmt=fmt_body(size=18), data_size=0)
    assert run([header[:20], header[20:], frames]) == frames


def test_odd_sized_chunk_before_data_is_padded_AI2() -> None:
    _, frames = recording(WEATHER)
    odd = chunk(b"JUNK", b"abc")  # 3 bytes + 1 pad byte
    assert len(odd) == 12
    assert run([wav(frames, before_data=odd)]) == frames


def test_extensible_pcm_header_is_accepted_AI2() -> None:
    _, frames = recording(WEATHER)
    stream = wav(frames, fmt=fmt_body(tag=0xFFFE, size=40))
    assert len(stream) - len(frames) == 68
    assert run([stream]) == frames


def test_sample_split_between_fragments_and_messages_is_carried_over_AI3() -> None:
    _, frames = recording(WEATHER)
    header = wav(data_size=0)
    messages: list[bytes | list[bytes]] = [
        [header, frames[:101]],
        [frames[101:2_001], frames[2_001:2_002]],
        frames[2_002:],
    ]
    assert run(messages) == frames


def test_message_shorter_than_a_riff_preamble_is_raw_audio() -> None:
    header = wav(data_size=0)
    assert run([header, b"RI", b"FFxx"]) == b"RIFFxx"
    assert run([header, b"RIFF", b"\x01\x00"]) == b"RIFF\x01\x00"


def test_pcm_bytes_out_counts_every_byte_returned_RS7() -> None:
    normalizer = AudioNormalizer()
    _, frames = recording(WEATHER)
    normalizer.start_message()
    returned = len(normalizer.feed(wav(frames[:3_000], data_size=0)))
    normalizer.start_message()
    returned += len(normalizer.feed(frames[3_000:]))
    returned += len(normalizer.finish())
    assert normalizer.pcm_bytes_out == returned == len(frames)


def test_pass_through_returns_a_whole_raw_message_without_copying_AI4() -> None:
    normalizer = AudioNormalizer()
    normalizer.start_message()
    normalizer.feed(wav(data_size=0))
    silence = bytes(8 * 1024 * 1024)
    normalizer.start_message()
    assert normalizer.feed(silence) is silence


def test_pass_through_never_touches_numpy_AI3(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoNumpy:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"numpy.{name} used on the 16 kHz mono hot path")

    data, frames = recording(LAMP)
    monkeypatch.setattr(pcmformat, "np", NoNumpy())
    assert run([pieces(data, 160), bytes(32_000), pieces(frames, 3_201)]) == (
        frames + bytes(32_000) + frames
    )


# -- other sample formats (AI5) -------------------------------------------------------------


def test_8_bit_unsigned_is_widened_AI5() -> None:
    _, frames = recording(WEATHER)
    reference = np.frombuffer(frames, "<i2")
    eight = ((reference.astype(np.int32) >> 8) + 128).astype(np.uint8)
    out = np.frombuffer(run([wav(eight.tobytes(), fmt=fmt_body(bits=8))]), "<i2")
    assert len(out) == len(reference)
    assert np.array_equal(out, (eight.astype(np.int32) - 128) * 256)


def test_24_bit_is_narrowed_exactly_AI5() -> None:
    _, frames = recording(WEATHER)
    reference = np.frombuffer(frames, "<i2").astype(np.int32) << 8
    packed = reference.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    assert run([pieces(wav(packed, fmt=fmt_body(bits=24)), 160)]) == frames


def test_32_bit_int_is_narrowed_exactly_AI5() -> None:
    _, frames = recording(WEATHER)
    wide = (np.frombuffer(frames, "<i2").astype("<i4") << 16).tobytes()
    assert run([wav(wide, fmt=fmt_body(bits=32))]) == frames


@pytest.mark.parametrize(("bits", "dtype"), [(32, "<f4"), (64, "<f8")])
def test_ieee_float_is_converted_AI5(bits: int, dtype: str) -> None:
    _, frames = recording(WEATHER)
    floats = (to_float(frames)).astype(dtype).tobytes()
    assert run([wav(floats, fmt=fmt_body(tag=3, bits=bits))]) == frames


def test_extensible_float_header_is_accepted_AI5() -> None:
    _, frames = recording(WEATHER)
    floats = to_float(frames).tobytes()
    assert run([wav(floats, fmt=fmt_body(tag=0xFFFE, bits=32, size=40, subformat=3))]) == frames


def test_float_out_of_range_and_nan_are_clipped_AI5() -> None:
    floats = np.array([2.0, -2.0, np.nan, np.inf, -np.inf, 0.5], "<f4").tobytes()
    out = np.frombuffer(run([wav(floats, fmt=fmt_body(tag=3, bits=32))]), "<i2")
    assert out.tolist() == [32767, -32768, 0, 32767, -32768, 16384]


def test_stereo_is_down_mixed_by_averaging_AI5() -> None:
    _, frames = recording(WEATHER)
    left = np.frombuffer(frames, "<i2")
    same = np.column_stack([left, left]).astype("<i2").tobytes()
    opposite = np.column_stack([left, -left.astype(np.int32)]).clip(-32768, 32767)
    stereo = fmt_body(channels=2)
    assert run([wav(same, fmt=stereo)]) == frames
    assert run([wav(opposite.astype("<i2").tobytes(), fmt=stereo)]) == bytes(len(frames))


def test_stereo_frame_split_across_3_byte_fragments_is_realigned_AI3() -> None:
    _, frames = recording(WEATHER)
    left = np.frombuffer(frames, "<i2")[:4_000]
    stereo = wav(np.column_stack([left, left]).astype("<i2").tobytes(), fmt=fmt_body(channels=2))
    assert run([pieces(stereo, 3)]) == left.tobytes()


def test_six_channels_are_down_mixed_AI5() -> None:
    samples = np.tile(np.array([600, 0, 0, 0, 0, 0], "<i2"), 100)
    out = np.frombuffer(run([wav(samples.tobytes(), fmt=fmt_body(channels=6))]), "<i2")
    assert out.tolist() == [100] * 100


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_other_rates_are_resampled_to_16_khz_AI5(rate: int) -> None:
    _, frames = recording(WEATHER)
    source = to_int16(resampled_copy(frames, rate)).tobytes()
    out = run([wav(source, fmt=fmt_body(rate=rate))])
    assert abs(len(out) - len(frames)) <= 4
    # 8 kHz loses everything above 4 kHz, so it correlates less.
    assert correlation(out, frames) > (0.95 if rate == 8_000 else 0.999)


def test_44_1_khz_stereo_is_down_mixed_and_resampled_AI5() -> None:
    _, frames = recording(WEATHER)
    left = resampled_copy(frames, 44_100)
    stereo = to_int16(np.column_stack([left, 0.5 * left])).tobytes()
    out = run([pieces(wav(stereo, fmt=fmt_body(rate=44_100, channels=2, size=18)), 160)])
    assert abs(len(out) - len(frames)) <= 4
    assert correlation(out, frames) > 0.999


def test_resampled_stream_is_the_same_whole_or_in_fragments_AI3() -> None:
    _, frames = recording(WEATHER)
    stream = wav(to_int16(resampled_copy(frames, 22_050)).tobytes(), fmt=fmt_body(rate=22_050))
    assert run([pieces(stream, 160)]) == run([stream]) == run([[stream[:7], stream[7:]]])


def test_finish_flushes_the_resampler_tail_AI5() -> None:
    _, frames = recording(WEATHER)
    stream = wav(to_int16(resampled_copy(frames, 48_000)).tobytes(), fmt=fmt_body(rate=48_000))
    normalizer = AudioNormalizer()
    normalizer.start_message()
    before = normalizer.feed(stream)
    tail = normalizer.finish()
    assert tail, "the resampler holds back samples until finish()"
    assert abs(len(before + tail) - len(frames)) <= 4


def test_browser_blobs_each_with_a_header_make_one_continuous_stream_AI5() -> None:
    """MediaStreamRecorder: a stereo 48 kHz RIFF file every 200 ms."""
    _, frames = recording(WEATHER)
    left = resampled_copy(frames, 48_000)
    stereo = to_int16(np.column_stack([left, left]))
    fmt = fmt_body(rate=48_000, channels=2)
    blobs = [wav(stereo[i : i + 9_600].tobytes(), fmt=fmt) for i in range(0, len(stereo), 9_600)]
    whole = run([wav(stereo.tobytes(), fmt=fmt)])
    assert run(blobs) == whole  # no clicks or gaps: the resampler state runs on
    assert abs(len(whole) - len(frames)) <= 4
    assert correlation(whole, frames) > 0.999


def test_a_new_header_with_another_format_switches_format_mid_session_AI5() -> None:
    _, frames = recording(WEATHER)
    normalizer = AudioNormalizer()
    eight_k = to_int16(resampled_copy(frames, 8_000)).tobytes()
    out = run([wav(frames), wav(eight_k, fmt=fmt_body(rate=8_000))], normalizer)
    assert out[: len(frames)] == frames
    assert abs(len(out) - 2 * len(frames)) <= 4
    assert normalizer.format is not None and normalizer.format.sample_rate == 8_000


def test_format_reports_what_the_header_declared() -> None:
    normalizer = AudioNormalizer()
    assert normalizer.format is None
    normalizer.start_message()
    normalizer.feed(wav(fmt=fmt_body(rate=22_050, channels=2, bits=24), data_size=0))
    assert normalizer.format is not None
    fmt = normalizer.format
    assert (fmt.encoding, fmt.sample_rate, fmt.channels, fmt.bits_per_sample) == (
        Encoding.PCM,
        22_050,
        2,
        24,
    )
    assert fmt.block_align == 6


def test_eight_megabyte_stereo_message_is_converted_in_one_feed_AI4() -> None:
    samples = np.zeros((2 * 1024 * 1024, 2), "<i2")  # 8 MiB of 48 kHz stereo silence
    out = run([wav(samples.tobytes(), fmt=fmt_body(rate=48_000, channels=2))])
    assert abs(len(out) - 2 * len(samples) // 3) <= 4
    assert not any(out)


# -- rejected input (AI6) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [b"\0" * 3_200, b"RIFX\0\0\0\0WAVE", b"RIFF\0\0\0\0AVI LIST", b"ID3\x03mp3", b"OggS"],
    ids=["raw-pcm", "rifx", "avi", "mp3", "ogg"],
)
def test_first_message_without_riff_wave_header_is_rejected_AI6(first: bytes) -> None:
    expect_failure([first], Failure.BAD_AUDIO_HEADER)


def test_headerless_first_message_is_rejected_on_its_first_fragment_AI6() -> None:
    normalizer = AudioNormalizer()
    normalizer.start_message()
    with pytest.raises(SessionError):
        normalizer.feed(b"\x01")


@pytest.mark.parametrize(
    "stream",
    [
        wav(before_data=chunk(b"LIST", bytes(MAX_HEADER_BYTES))),
        wav(before_data=b"".join(chunk(b"JUNK", bytes(92)) for _ in range(700))),
        b"RIFF\0\0\0\0WAVEdata\0\0\0\0\0\0",
        b"RIFF\0\0\0\0WAVEfmt \x0e\0\0\0" + bytes(14),
        wav(fmt=fmt_body(channels=0)),
        wav(fmt=fmt_body(rate=0)),
        wav(fmt=fmt_body(tag=0xFFFE, size=18)),
    ],
    ids=["huge-list", "many-chunks", "data-before-fmt", "short-fmt", "0-channels", "0-hz", "ext18"],
)
def test_broken_header_is_rejected_AI6(stream: bytes) -> None:
    expect_failure([pieces(stream, 160)], Failure.BAD_AUDIO_HEADER)


def test_header_of_almost_64_kib_is_still_accepted_AI2() -> None:
    padding = chunk(b"LIST", bytes(MAX_HEADER_BYTES - 12 - 24 - 8 - 8))
    stream = wav(b"\x01\x02", before_data=padding)
    assert len(stream) - 2 == MAX_HEADER_BYTES
    assert run([stream]) == b"\x01\x02"


@pytest.mark.parametrize(
    ("fmt", "words"),
    [
        (fmt_body(tag=2, bits=4), "ADPCM"),
        (fmt_body(tag=6, bits=8), "A-law"),
        (fmt_body(tag=7, bits=8), "mu-law"),
        (fmt_body(tag=0x55, bits=0), "MP3"),
        (fmt_body(tag=0x1234), "0x1234"),
        (fmt_body(bits=12), "12 bits"),
        (fmt_body(tag=3, bits=16), "16 bits"),
        (fmt_body(tag=0xFFFE, size=40, subformat=2), "ADPCM"),
        (fmt_body(tag=0xFFFE, size=40)[:26] + bytes(14), "EXTENSIBLE"),
        (fmt_body(rate=500), "500 Hz"),
        (fmt_body(rate=1_000_000), "1000000 Hz"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_non_pcm_or_unusable_format_is_unsupported_AI2(fmt: bytes, words: str) -> None:
    error = expect_failure([wav(b"\0" * 64, fmt=fmt)], Failure.UNSUPPORTED_AUDIO_FORMAT)
    assert words in error.message


def test_unsupported_format_in_a_later_message_is_rejected_too_AI2() -> None:
    _, frames = recording(WEATHER)
    expect_failure(
        [wav(frames), wav(fmt=fmt_body(tag=7, bits=8))], Failure.UNSUPPORTED_AUDIO_FORMAT
    )


def test_feeding_after_finish_is_a_programming_error() -> None:
    normalizer = AudioNormalizer()
    normalizer.finish()
    with pytest.raises(RuntimeError):
        normalizer.feed(b"RIFF")
    with pytest.raises(RuntimeError):
        normalizer.start_message()


def test_default_format_lets_a_stream_start_without_a_header() -> None:
    assert run([b"\x01\x02\x03\x04"], AudioNormalizer(default_format=PCM_16K_MONO)) == (
        b"\x01\x02\x03\x04"
    )


# -- properties (AI3, AI6) ------------------------------------------------------------------


def _sample_streams() -> list[bytes]:
    _, frames = recording(WEATHER)
    lamp, _ = recording(LAMP)
    left = to_int16(resampled_copy(frames[:8_000], 22_050))
    stereo_22k = wav(
        np.column_stack([left, left // 2]).tobytes(), fmt=fmt_body(rate=22_050, channels=2)
    )
    return [lamp[:3_000], stereo_22k, wav(frames[:2_000], after_data=chunk(b"LIST", b"x" * 9))]


SAMPLE_STREAMS = _sample_streams()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(SAMPLE_STREAMS) - 1),
    cuts=st.lists(st.integers(0, 40_000), max_size=40),
)
def test_any_split_of_a_valid_stream_gives_the_same_pcm_AI3(index: int, cuts: list[int]) -> None:
    stream = SAMPLE_STREAMS[index]
    fragments = split_at(stream, (cut % (len(stream) + 1) for cut in cuts))
    assert run([fragments]) == run([stream])


@settings(max_examples=300, deadline=None)
@given(
    head=st.sampled_from([b"", b"RIFF\0\0\0\0WAVE", b"RIFF\xff\xff\xff\xffWAVEfmt "]),
    messages=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    cut=st.integers(0, 300),
)
def test_random_bytes_only_ever_raise_session_error_AI6(
    head: bytes, messages: list[bytes], cut: int
) -> None:
    first = head + messages[0]
    try:
        run([split_at(first, [cut % (len(first) + 1)]), *messages[1:]])
    except SessionError as error:
        assert error.failure in (Failure.BAD_AUDIO_HEADER, Failure.UNSUPPORTED_AUDIO_FORMAT)
        assert len(error.message.encode("utf-8")) <= MAX_CLOSE_REASON_BYTES


@pytest.mark.filterwarnings("error")  # numpy overflow warnings mean garbage samples
@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(
        [
            fmt_body(),
            fmt_body(bits=8),
            fmt_body(bits=24, channels=3),
            fmt_body(tag=3, bits=32, rate=44_100),
            fmt_body(tag=3, bits=64, channels=2, rate=8_000),
            fmt_body(tag=3, bits=64),
        ]
    ),
    messages=st.lists(st.binary(max_size=500), max_size=6),
)
def test_random_audio_after_a_valid_header_never_fails_AI3(
    fmt: bytes, messages: list[bytes]
) -> None:
    header = wav(fmt=fmt, data_size=0)
    # raw messages that happen to start with "RIFF....WAVE" would be headers: not audio
    raw = [m for m in messages if not m.startswith(b"RIFF")]
    out = run([header, *raw])
    assert len(out) % 2 == 0
