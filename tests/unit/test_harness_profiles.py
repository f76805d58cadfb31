"""The client profiles produce exactly the frames of the clients in spec §2.3."""

from __future__ import annotations

import math
import struct
import wave
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from websockets.frames import Opcode

from shim.harness.session import wavfile
from shim.harness.session.profiles import PROFILES, Finish, Step, pacing

pytestmark = pytest.mark.unit

AUDIO = Path(__file__).resolve().parents[2].parent / "shared" / "audio"
LAMP = (AUDIO / "en-US_turn-on-the-lamp.wav").read_bytes()  # has a LIST chunk
with wave.open(str(AUDIO / "en-US_turn-on-the-lamp.wav")) as _lamp:
    LAMP_PCM = _lamp.readframes(_lamp.getnframes())

HEADER_46 = (
    b"RIFF\x00\x00\x00\x00WAVEfmt \x12\x00\x00\x00"
    + struct.pack("<HHIIHHH", 1, 1, 16000, 32000, 2, 16, 0)
    + b"data\x00\x00\x00\x00"
)


def _payloads(steps: list[Step]) -> list[bytes]:
    return [bytes(step.frame.data) for step in steps]


def _whole_messages(steps: list[Step]) -> bool:
    return all(s.frame.opcode is Opcode.BINARY and s.frame.fin for s in steps)


def test_the_46_byte_header_has_an_18_byte_fmt_chunk() -> None:
    header = wavfile.header()
    assert len(header) == 46
    assert header == HEADER_46
    assert struct.unpack_from("<I", header, 16)[0] == 18


def test_realtime_sends_the_header_alone_then_3200_byte_chunks_every_100_ms() -> None:
    steps = PROFILES["realtime"].schedule(LAMP)
    payloads = _payloads(steps)
    assert _whole_messages(steps)
    assert payloads[0] == HEADER_46
    audio = b"".join(payloads[1:])
    assert audio == LAMP_PCM + bytes(64_000)  # the file's samples, then 2 s of silence
    assert all(len(p) == 3_200 for p in payloads[1:-1]) and 0 < len(payloads[-1]) <= 3_200
    chunks = len(payloads) - 1
    assert chunks == math.ceil((len(LAMP_PCM) + 64_000) / 3_200)
    assert [s.delay for s in steps[:2]] == [0.0, 0.0]
    assert all(s.delay == 0.1 for s in steps[2:])
    assert pacing(steps) == pytest.approx(0.1 * (chunks - 1))


def test_burst_sends_32000_byte_messages_then_100_s_of_silence() -> None:
    steps = PROFILES["burst"].schedule(LAMP)
    payloads = _payloads(steps)
    assert _whole_messages(steps)
    audio_messages = math.ceil((46 + len(LAMP_PCM)) / 32_000)
    assert len(payloads) == audio_messages + 100
    assert payloads[0][:46] == HEADER_46
    assert b"".join(payloads[:audio_messages]) == HEADER_46 + LAMP_PCM
    assert all(len(p) == 32_000 for p in payloads[: audio_messages - 1])
    silence = payloads[audio_messages:]
    assert all(p == bytes(32_000) for p in silence)
    assert sum(map(len, silence)) == 3_200_000
    assert pacing(steps) == pytest.approx(0.1 * (len(steps) - 1))
    assert PROFILES["burst"].ending.close_reason == "end of file"


def test_whole_file_sends_the_file_untouched_then_one_silence_message() -> None:
    profile = PROFILES["whole-file"]
    steps = profile.schedule(LAMP)
    assert _payloads(steps) == [LAMP, bytes(3_200_000)]
    assert _whole_messages(steps)
    assert pacing(steps) == 0
    assert profile.ending.finish is Finish.CLOSE
    assert profile.ending.expected_close_codes == {1000}


def test_fragmented_is_one_message_in_160_byte_frames() -> None:
    steps = PROFILES["fragmented"].schedule(LAMP)
    frames = [s.frame for s in steps]
    data = HEADER_46 + LAMP_PCM + bytes(160_000)
    assert b"".join(bytes(f.data) for f in frames) == data
    assert frames[0].opcode is Opcode.BINARY
    assert all(f.opcode is Opcode.CONT for f in frames[1:])
    assert [f.fin for f in frames] == [False] * (len(frames) - 1) + [True]
    assert all(len(f.data) == 160 for f in frames[:-1])
    assert len(frames) == math.ceil(len(data) / 160)
    # 32,000 bytes (200 frames) per 100 ms, as node-cognitive-services paces.
    pauses = [i for i, s in enumerate(steps) if s.delay]
    assert pauses == list(range(200, len(steps), 200))
    assert all(steps[i].delay == 0.1 for i in pauses)


def test_unfinished_never_sets_fin() -> None:
    profile = PROFILES["unfinished"]
    steps = profile.schedule(LAMP)
    frames = [s.frame for s in steps]
    assert b"".join(bytes(f.data) for f in frames) == HEADER_46 + LAMP_PCM + bytes(320_000)
    assert frames[0].opcode is Opcode.BINARY
    assert all(f.opcode is Opcode.CONT for f in frames[1:])
    assert not any(f.fin for f in frames)
    assert pacing(steps) == 0
    assert profile.ending.finish is Finish.FIRST_RESULT_THEN_CLOSE


def _blob_format(blob: bytes) -> tuple[int, int, int, int, int, int]:
    riff_size, fmt_size = (
        struct.unpack_from("<I", blob, 4)[0],
        struct.unpack_from("<I", blob, 16)[0],
    )
    _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", blob, 20)
    data_size = struct.unpack_from("<I", blob, 40)[0]
    return riff_size, fmt_size, channels, rate, bits, data_size


def test_browser_blobs_are_complete_stereo_44k_wav_files_every_200_ms() -> None:
    steps = PROFILES["browser"].schedule(LAMP)
    blobs = _payloads(steps)
    assert _whole_messages(steps)
    blob_pcm = 8_820 * 4  # 200 ms of 44.1 kHz stereo 16-bit
    for blob in blobs:
        assert blob[:4] == b"RIFF" and blob[8:12] == b"WAVE"
        riff, fmt, channels, rate, bits, data = _blob_format(blob)
        assert (fmt, channels, rate, bits) == (16, 2, 44_100, 16)
        assert data == len(blob) - 44 and riff == len(blob) - 8
    assert all(len(b) == 44 + blob_pcm for b in blobs[:-1])
    seconds = sum(len(b) - 44 for b in blobs) / (44_100 * 4)
    assert seconds == pytest.approx(len(LAMP_PCM) / 32_000 + 2.0, abs=0.01)
    assert pacing(steps) == pytest.approx(0.2 * (len(steps) - 1))
    # Up-mixed: both channels carry the same signal.
    samples = np.frombuffer(blobs[2][44:], "<i2").reshape(-1, 2)
    assert np.array_equal(samples[:, 0], samples[:, 1]) and samples.any()


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_speed_divides_the_pacing_and_zero_removes_it(name: str) -> None:
    profile = PROFILES[name]
    normal = profile.schedule(LAMP)
    fast = profile.schedule(LAMP, speed=4)
    assert _payloads(fast) == _payloads(normal)
    assert pacing(fast) == pytest.approx(pacing(normal) / 4)
    assert pacing(profile.schedule(LAMP, speed=0)) == 0
    with pytest.raises(ValueError):
        profile.schedule(LAMP, speed=-1)


def _wav(rate: int, channels: int, seconds: float) -> bytes:
    frames = int(rate * seconds)
    tone = (np.sin(np.arange(frames) * 2 * np.pi * 440 / rate) * 10_000).astype("<i2")
    out = BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.repeat(tone, channels).tobytes())
    return out.getvalue()


def test_other_rates_and_stereo_are_converted_to_16k_mono() -> None:
    steps = PROFILES["realtime"].schedule(_wav(22_050, 2, 1.0))
    audio = b"".join(_payloads(steps)[1:])
    assert len(audio) - 64_000 == pytest.approx(32_000, abs=4)


def test_the_wav_reader_walks_past_a_list_chunk() -> None:
    info = wavfile.parse_wav(LAMP)
    assert (info.sample_rate, info.channels, info.bits_per_sample) == (16_000, 1, 16)
    assert info.data_offset == 12 + 8 + 16 + 8 + 62 + 8
    assert LAMP[info.data_offset : info.data_offset + info.data_size] == LAMP_PCM


def test_unreadable_audio_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(wavfile.WavError):
        PROFILES["realtime"].schedule(b"ID3 this is an mp3")
    with pytest.raises(wavfile.WavError, match="format tag"):
        alaw = bytearray(_wav(8_000, 1, 0.1))
        alaw[20:22] = (6).to_bytes(2, "little")
        wavfile.parse_wav(bytes(alaw))
