"""Audio in the formats clients declare: a 16 kHz mono 16-bit recording re-encoded at another
rate, width, channel count or G.711 companding. Written here from the textbook algorithms
(ITU-T G.711), not with the code under test."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

Samples = npt.NDArray[np.int32]


def _int16(pcm: bytes) -> Samples:
    return np.frombuffer(pcm, "<i2").astype(np.int32)


def mulaw(samples: Samples) -> bytes:
    """G.711 μ-law: bias 0x84, clip at 32635, 3-bit segment, 4-bit mantissa, inverted."""
    sign = (samples < 0).astype(np.int32)
    magnitude = np.minimum(np.abs(samples), 32635) + 0x84
    segment = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (segment + 3)) & 0x0F
    return (~((sign << 7) | (segment << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def alaw(samples: Samples) -> bytes:
    """G.711 A-law: 13-bit magnitude, 3-bit segment, 4-bit mantissa, even bits inverted."""
    value = samples >> 3
    positive = value >= 0
    mask = np.where(positive, 0xD5, 0x55)
    value = np.where(positive, value, -value - 1)
    ends = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    segment = np.searchsorted(ends, value)
    shift = np.where(segment < 2, 1, segment)
    code = np.where(
        segment >= 8,
        0x7F,
        (np.minimum(segment, 7) << 4) | ((value >> shift) & 0x0F),
    )
    return (code ^ mask).astype(np.uint8).tobytes()


def encode(pcm16k: bytes, rate: int, channels: int, bits: int, encoding: str = "pcm") -> bytes:
    """``pcm16k`` (16 kHz mono 16-bit) as ``rate`` Hz, ``channels`` channels (the same signal in
    each) and ``bits``-bit samples: ``pcm`` integers (8-bit unsigned), ``float`` or
    ``mulaw``/``alaw`` (8-bit)."""
    samples = _int16(pcm16k).astype(np.float32) / 32768.0
    if rate != 16_000:
        samples = soxr.resample(samples, 16_000, rate)
    ints = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int32)
    if encoding == "mulaw":
        body = np.frombuffer(mulaw(ints), np.uint8)
    elif encoding == "alaw":
        body = np.frombuffer(alaw(ints), np.uint8)
    elif encoding == "float":
        body = samples.astype("<f4" if bits == 32 else "<f8")
    elif bits == 8:
        body = ((ints >> 8) + 128).astype(np.uint8)
    elif bits == 16:
        body = ints.astype("<i2")
    elif bits == 24:
        wide = (ints << 8).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        body = wide.reshape(-1)
    else:
        body = (ints << 16).astype("<i4")
    width = body.dtype.itemsize * (3 if bits == 24 and encoding == "pcm" else 1)
    frames = body.view(np.uint8).reshape(-1, width) if width > 1 else body.reshape(-1, 1)
    return np.repeat(frames, channels, axis=0).tobytes()
