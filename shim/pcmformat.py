"""WAV sample formats and their conversion to 16 kHz mono signed 16-bit PCM.

Shared by the legacy core (a client's audio, :mod:`shim.legacy.audio`) and the local Speech
service (the audio the Speech SDKs send, with the WAV header of their first message): the
``fmt `` chunk is read by :func:`parse_fmt_chunk`, and a :class:`PcmConverter` turns a stream
of that format into what the recognisers take, carrying a sample frame split across messages
and the resampler's state. Integer PCM of 8 (unsigned), 16, 24 and 32 bits, IEEE float of
32 and 64 bits, and G.711 A-law and μ-law (8-bit samples whatever the header's bit count
says: the JavaScript SDK declares 16), at any rate, with any number of channels (mixed down).

Memory: a converter holds at most one partial sample frame and soxr's resampler state.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr

from shim.audiotime import SAMPLE_RATE

TARGET_RATE = SAMPLE_RATE  # what the recognisers take (16 kHz mono 16-bit PCM)
MIN_RATE, MAX_RATE = 1_000, 768_000

TAG_PCM = 0x0001
TAG_FLOAT = 0x0003
TAG_ALAW = 0x0006
TAG_MULAW = 0x0007
_TAG_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_* GUIDs differ only in their first two bytes, the format tag.
_SUBFORMAT_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
_TAG_NAMES = {
    0x0002: "MS ADPCM",
    TAG_ALAW: "A-law",
    TAG_MULAW: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
}


class Encoding(enum.Enum):
    PCM = "pcm"  # integer: 8-bit unsigned, 16/24/32-bit signed
    FLOAT = "float"  # IEEE float, 32 or 64 bit
    ALAW = "a-law"  # G.711, 8-bit samples
    MULAW = "mu-law"  # G.711, 8-bit samples


class FormatError(ValueError):
    """A ``fmt`` chunk that cannot be used: ``unsupported`` for a well-formed format this
    module does not decode, otherwise a malformed header. The message says which."""

    def __init__(self, message: str, *, unsupported: bool) -> None:
        super().__init__(message)
        self.unsupported = unsupported


@dataclass(frozen=True)
class WavFormat:
    """The sample format a RIFF ``fmt `` chunk declares."""

    encoding: Encoding
    sample_rate: int
    channels: int
    bits_per_sample: int  # container size; 24-bit samples in 32-bit containers count as 32

    @property
    def block_align(self) -> int:
        """Bytes per sample frame. Computed, because sloppy writers get nBlockAlign wrong."""
        return self.channels * (self.bits_per_sample // 8)

    @property
    def byte_rate(self) -> int:
        return self.sample_rate * self.block_align

    @property
    def name(self) -> str:
        return f"{self.encoding.value} {self.bits_per_sample}-bit {self.sample_rate} Hz"


PCM_16K_MONO = WavFormat(Encoding.PCM, TARGET_RATE, 1, 16)


def tag_name(tag: int) -> str:
    return _TAG_NAMES.get(tag, "non-PCM")


def parse_fmt_chunk(body: bytes) -> WavFormat:
    """Read a ``fmt `` chunk body (16, 18 or 40+ bytes); raise FormatError if unusable."""
    if len(body) < 16:
        raise FormatError("WAV fmt chunk is shorter than 16 bytes", unsupported=False)
    tag, channels, rate, _byte_rate, _block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _TAG_EXTENSIBLE:
        if len(body) < 40:
            raise FormatError(
                "WAVE_FORMAT_EXTENSIBLE fmt chunk is shorter than 40 bytes", unsupported=False
            )
        if body[26:40] != _SUBFORMAT_GUID_TAIL:
            raise FormatError(
                "unsupported WAVE_FORMAT_EXTENSIBLE subformat; send PCM", unsupported=True
            )
        (tag,) = struct.unpack_from("<H", body, 24)
    if tag == TAG_PCM:
        encoding = Encoding.PCM
        if bits not in (8, 16, 24, 32):
            raise FormatError(
                f"unsupported PCM sample size of {bits} bits; send 16-bit PCM", unsupported=True
            )
    elif tag == TAG_FLOAT:
        encoding = Encoding.FLOAT
        if bits not in (32, 64):
            raise FormatError(
                f"unsupported float sample size of {bits} bits; send 16-bit PCM", unsupported=True
            )
    elif tag in (TAG_ALAW, TAG_MULAW):
        encoding = Encoding.ALAW if tag == TAG_ALAW else Encoding.MULAW
        bits = 8
    else:
        raise FormatError(
            f"unsupported WAV encoding {tag_name(tag)} (format tag 0x{tag:04X}); send PCM",
            unsupported=True,
        )
    if channels == 0:
        raise FormatError("WAV header declares 0 channels", unsupported=False)
    if rate == 0:
        raise FormatError("WAV header declares a sample rate of 0 Hz", unsupported=False)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise FormatError(f"unsupported sample rate of {rate} Hz", unsupported=True)
    return WavFormat(encoding, rate, channels, bits)


def _g711_tables() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """A-law and μ-law byte → sample in [-1, 1) (ITU-T G.711), as 256-entry tables."""
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    mu = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
    mulaw = np.where(u & 0x80, 0x84 - mu, mu - 0x84)
    a = codes ^ 0x55
    exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    alaw = np.where(a & 0x80, magnitude, -magnitude)
    return (alaw / 32768.0).astype(np.float32), (mulaw / 32768.0).astype(np.float32)


_ALAW, _MULAW = _g711_tables()


class PcmConverter:
    """Sample-aligned conversion of one input format to 16 kHz mono 16-bit."""

    def __init__(self, fmt: WavFormat) -> None:
        self.format = fmt
        self._block = fmt.block_align
        self._carry = b""  # a sample frame split across fragments
        self._passthrough = fmt == PCM_16K_MONO
        self._resampler: soxr.ResampleStream | None = None
        if fmt.sample_rate != TARGET_RATE:
            self._resampler = soxr.ResampleStream(
                fmt.sample_rate, TARGET_RATE, 1, dtype="float32", quality="HQ"
            )

    def drop_partial_frame(self) -> None:
        self._carry = b""

    def convert(self, chunk: bytes | memoryview) -> bytes:
        block, carry = self._block, self._carry
        if self._passthrough and not carry and len(chunk) % block == 0:
            return chunk if isinstance(chunk, bytes) else bytes(chunk)
        if carry:
            need = block - len(carry)
            if len(chunk) < need:
                self._carry = carry + bytes(chunk)
                return b""
            head, chunk = carry + bytes(chunk[:need]), chunk[need:]
        else:
            head = b""
        usable = len(chunk) - len(chunk) % block
        self._carry = bytes(chunk[usable:])
        body = head + bytes(chunk[:usable]) if head else chunk[:usable]
        if self._passthrough:
            return body if isinstance(body, bytes) else bytes(body)
        samples = self._to_mono_float(body)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return to_pcm16(samples)

    def flush(self) -> bytes:
        """The end of the stream: the resampler's tail."""
        self._carry = b""
        if self._resampler is None:
            return b""
        return to_pcm16(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))

    def _to_mono_float(self, body: bytes | memoryview) -> npt.NDArray[np.float32]:
        fmt = self.format
        bits = fmt.bits_per_sample
        samples: npt.NDArray[np.float32]
        if fmt.encoding is Encoding.FLOAT:
            raw = np.frombuffer(body, "<f4" if bits == 32 else "<f8")
            # Clip before narrowing: a float64 of 1e300 would turn into inf, then NaN.
            finite = np.nan_to_num(raw, nan=0.0, posinf=1.0, neginf=-1.0)
            samples = np.clip(finite, -1.0, 1.0).astype(np.float32)
        elif fmt.encoding is not Encoding.PCM:
            table = _ALAW if fmt.encoding is Encoding.ALAW else _MULAW
            samples = table[np.frombuffer(body, np.uint8)]
        elif bits == 8:  # unsigned, silence at 128
            samples = (np.frombuffer(body, np.uint8).astype(np.float32) - 128.0) / 128.0
        elif bits == 16:
            samples = np.frombuffer(body, "<i2").astype(np.float32) / 32768.0
        elif bits == 24:
            octets = np.frombuffer(body, np.uint8).reshape(-1, 3)
            value = (
                octets[:, 0].astype(np.int32)
                | (octets[:, 1].astype(np.int32) << 8)
                | (octets[:, 2].astype(np.int8).astype(np.int32) << 16)
            )
            samples = value.astype(np.float32) / 8388608.0
        else:
            samples = np.frombuffer(body, "<i4").astype(np.float32) / 2147483648.0
        if fmt.channels > 1:
            samples = samples.reshape(-1, fmt.channels).mean(axis=1, dtype=np.float32)
        return samples


def to_pcm16(samples: npt.NDArray[np.float32]) -> bytes:
    if samples.size == 0:
        return b""
    scaled = np.clip(np.rint(samples * 32768.0), -32768.0, 32767.0)
    return bytes(scaled.astype("<i2").data)
