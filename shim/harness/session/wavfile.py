"""WAV files on the client side: read whatever the user hands us, write the headers clients send.

Kept separate from :mod:`shim.legacy.audio` on purpose: the harness checks the server, so it
must not share the server's parser (a bug there would be invisible from here). Input files
are read by walking the RIFF chunks, because real files carry ``LIST`` chunks between
``fmt `` and ``data`` (spec §2.2); headers are built with :mod:`struct` byte by byte, because
the exact bytes (46-byte header, fmt chunk of 18) are what the profiles reproduce.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr

PCM_RATE = 16_000
"""The documented input format: 16 kHz, mono, signed 16-bit little-endian."""

_TAG_PCM = 0x0001
_TAG_FLOAT = 0x0003
_TAG_EXTENSIBLE = 0xFFFE
_STREAMING_SIZES = (0, 0xFFFFFFFF)

Samples = npt.NDArray[np.float32]
"""Audio as float32 in [-1, 1], shape (frames, channels)."""


class WavError(ValueError):
    """The input is not a WAV file this client can stream."""


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    bits_per_sample: int
    is_float: bool
    data_offset: int
    data_size: int

    @property
    def duration(self) -> float:
        frame = self.channels * self.bits_per_sample // 8
        return self.data_size / frame / self.sample_rate


def parse_wav(data: bytes) -> WavInfo:
    """Find the format and the data chunk, walking every chunk (never assume offset 44)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(data[body : body + size])
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError("data chunk before fmt chunk")
            available = len(data) - body
            # Streaming writers leave the size at 0 or 0xFFFFFFFF: the data runs to the end.
            length = available if size in _STREAMING_SIZES else min(size, available)
            rate, channels, bits, is_float = fmt
            return WavInfo(rate, channels, bits, is_float, body, length)
        pos = body + size + (size & 1)
    raise WavError("no data chunk")


def _parse_fmt(body: bytes) -> tuple[int, int, int, bool]:
    if len(body) < 16:
        raise WavError("fmt chunk shorter than 16 bytes")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _TAG_EXTENSIBLE and len(body) >= 26:
        (tag,) = struct.unpack_from("<H", body, 24)
    if tag == _TAG_PCM and bits in (8, 16, 24, 32):
        return rate, channels, bits, False
    if tag == _TAG_FLOAT and bits in (32, 64):
        return rate, channels, bits, True
    raise WavError(f"unsupported WAV encoding (format tag 0x{tag:04X}, {bits} bits); use PCM")


def decode(data: bytes) -> tuple[int, Samples]:
    """Sample rate and float32 samples of shape (frames, channels)."""
    info = parse_wav(data)
    if info.channels < 1 or info.sample_rate < 1:
        raise WavError("WAV header declares no channels or no sample rate")
    width = info.bits_per_sample // 8
    raw = data[info.data_offset : info.data_offset + info.data_size]
    raw = raw[: len(raw) - len(raw) % (width * info.channels)]
    samples: npt.NDArray[np.floating]
    if info.is_float:
        samples = np.frombuffer(raw, "<f4" if width == 4 else "<f8").astype(np.float32)
    elif width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = ints.astype(np.float32) / float(1 << 23)
    else:
        dtype = "<i2" if width == 2 else "<i4"
        samples = np.frombuffer(raw, dtype).astype(np.float32) / float(1 << (8 * width - 1))
    return info.sample_rate, samples.astype(np.float32).reshape(-1, info.channels)


def convert(data: bytes, *, rate: int, channels: int) -> bytes:
    """Any readable WAV as signed 16-bit little-endian PCM at ``rate`` with ``channels``.

    Down-mixes by averaging and up-mixes by copying the mono signal; 16 kHz mono 16-bit
    input comes back byte for byte, so the profiles send exactly the file's samples.
    """
    info = parse_wav(data)
    if (info.sample_rate, info.channels, info.bits_per_sample, info.is_float) == (
        rate,
        channels,
        16,
        False,
    ):
        pcm = data[info.data_offset : info.data_offset + info.data_size]
        return pcm[: len(pcm) - len(pcm) % (2 * channels)]
    source_rate, samples = decode(data)
    mono = samples.mean(axis=1, dtype=np.float32)
    if source_rate != rate and len(mono):
        mono = soxr.resample(mono, source_rate, rate, quality="HQ").astype(np.float32)
    ints = np.clip(np.round(mono * 32767.0), -32768, 32767).astype("<i2")
    if channels > 1:
        ints = np.repeat(ints[:, None], channels, axis=1).reshape(-1)
    return bytes(ints.tobytes())


def pcm16_mono(data: bytes) -> bytes:
    """The documented input format (16 kHz mono 16-bit) from any readable WAV."""
    return convert(data, rate=PCM_RATE, channels=1)


def header(
    *, sample_rate: int = PCM_RATE, channels: int = 1, data_size: int = 0, fmt_size: int = 18
) -> bytes:
    """A PCM 16-bit WAV header: 46 bytes with ``fmt_size=18`` (WAVEFORMATEX, cbSize 0), as
    the official WPF and Python clients write it; 44 bytes with ``fmt_size=16``.

    ``data_size=0`` gives the streaming form with RIFF and data sizes of 0; otherwise both
    sizes are filled in, as a recorder writing a complete file does.
    """
    if fmt_size not in (16, 18):
        raise ValueError("fmt_size must be 16 or 18")
    block = channels * 2
    fmt = struct.pack("<HHIIHH", _TAG_PCM, channels, sample_rate, sample_rate * block, block, 16)
    if fmt_size == 18:
        fmt += struct.pack("<H", 0)
    riff_size = 0 if data_size == 0 else 4 + 8 + fmt_size + 8 + data_size
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", fmt_size)
        + fmt
        + b"data"
        + struct.pack("<I", data_size)
    )


def make_wav(pcm: bytes, *, sample_rate: int = PCM_RATE, channels: int = 1) -> bytes:
    """A complete 16-bit PCM WAV file (44-byte header, sizes filled in)."""
    return header(sample_rate=sample_rate, channels=channels, data_size=len(pcm), fmt_size=16) + pcm
