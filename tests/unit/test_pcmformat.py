"""WAV sample formats to 16 kHz mono 16-bit PCM: what both the legacy core and the local
Speech service read (the legacy core's own rules are in test_legacy_audio.py)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from shim.pcmformat import (
    PCM_16K_MONO,
    Encoding,
    FormatError,
    PcmConverter,
    WavFormat,
    parse_fmt_chunk,
)
from tests.support.audio_formats import alaw, encode, mulaw
from tests.support.paths import read_pcm

pytestmark = pytest.mark.unit

WEATHER = "en-US_whatstheweatherlike.wav"


def fmt(tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16) -> bytes:
    block = channels * max(bits, 8) // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)


def test_g711_decodes_the_standards_end_points() -> None:
    codes = bytes([0xFF, 0x7F, 0x00, 0x80, 0xD5, 0x55, 0xAA, 0x2A])
    mu = PcmConverter(WavFormat(Encoding.MULAW, 16000, 1, 8)).convert(codes[:4])
    a = PcmConverter(WavFormat(Encoding.ALAW, 16000, 1, 8)).convert(codes[4:])
    assert list(np.frombuffer(mu, "<i2")) == [0, 0, -32124, 32124]
    assert list(np.frombuffer(a, "<i2")) == [8, -8, 32256, -32256]


def _error(reference: bytes, converted: bytes) -> float:
    a = np.frombuffer(reference, "<i2").astype(np.float64)
    b = np.frombuffer(converted, "<i2").astype(np.float64)
    n = min(len(a), len(b))
    assert abs(len(a) - len(b)) <= 16  # the same duration, to a millisecond
    return float(np.sqrt(np.mean((a[:n] - b[:n]) ** 2)) / np.sqrt(np.mean(a[:n] ** 2)))


@pytest.mark.parametrize(
    ("rate", "channels", "bits", "encoding", "tag", "tolerance"),
    [
        (16000, 1, 16, "pcm", 1, 0.0),
        (44100, 1, 16, "pcm", 1, 0.02),
        (8000, 1, 16, "pcm", 1, 0.75),  # half the band is gone at 8 kHz
        (48000, 2, 16, "pcm", 1, 0.02),
        (16000, 1, 8, "pcm", 1, 0.05),
        (16000, 1, 24, "pcm", 1, 0.001),
        (16000, 2, 32, "pcm", 1, 0.001),
        (22050, 1, 32, "float", 3, 0.02),
        (16000, 1, 64, "float", 3, 0.001),
        (16000, 1, 8, "mulaw", 7, 0.05),
        (16000, 2, 8, "alaw", 6, 0.05),
    ],
)
def test_every_format_comes_out_as_the_same_16_khz_mono_audio(
    rate: int, channels: int, bits: int, encoding: str, tag: int, tolerance: float
) -> None:
    reference = read_pcm(WEATHER)
    body = encode(reference, rate, channels, bits, encoding)
    converter = PcmConverter(parse_fmt_chunk(fmt(tag, channels, rate, bits)))
    pieces = [converter.convert(body[i : i + 999]) for i in range(0, len(body), 999)]
    out = b"".join([*pieces, converter.flush()])
    assert _error(reference, out) <= tolerance


@pytest.mark.parametrize("tag", [6, 7])
def test_companded_samples_are_8_bit_whatever_the_header_says(tag: int) -> None:
    """The JavaScript SDK declares A-law and μ-law streams with 16 bits per sample."""
    parsed = parse_fmt_chunk(fmt(tag, 1, 16000, 16))
    assert (parsed.bits_per_sample, parsed.block_align) == (8, 1)
    samples = np.frombuffer(read_pcm(WEATHER), "<i2").astype(np.int32)
    body = (alaw if tag == 6 else mulaw)(samples)
    assert len(PcmConverter(parsed).convert(body)) == 2 * len(body)


def test_16_khz_mono_16_bit_passes_through_untouched() -> None:
    pcm = read_pcm(WEATHER)
    assert PcmConverter(PCM_16K_MONO).convert(pcm) is pcm


@pytest.mark.parametrize(
    ("body", "unsupported", "words"),
    [
        (fmt(tag=0x55, bits=0), True, "MP3"),
        (fmt(tag=2, bits=4), True, "ADPCM"),
        (fmt(bits=12), True, "12 bits"),
        (fmt(rate=0), False, "0 Hz"),
        (fmt(channels=0), False, "0 channels"),
        (fmt()[:10], False, "shorter than 16"),
    ],
)
def test_unusable_formats_say_why(body: bytes, unsupported: bool, words: str) -> None:
    with pytest.raises(FormatError) as raised:
        parse_fmt_chunk(body)
    assert raised.value.unsupported is unsupported and words in str(raised.value)
