"""Turn what legacy clients send into 16 kHz mono signed 16-bit little-endian PCM.

Sans-I/O and streaming: :meth:`AudioNormalizer.feed` takes each frame or fragment as it
arrives (AI3) and returns the PCM it can already produce. Clients differ wildly (spec §2.2,
§2.3): a 44- or 46-byte header alone or in front of the audio, whole files with ``LIST``
chunks and real sizes, a RIFF header on every 200 ms browser blob, stereo 44.1/48 kHz,
headers and samples split across 160-byte fragments. So the RIFF chunks are walked, never
assumed to end at byte 44 (AI2), and a sample split across frames is carried over.

The samples are converted by :mod:`shim.pcmformat` (shared with the local Speech service);
this module walks the RIFF chunks and keeps the legacy rules (PCM and float only).

Memory: a header is buffered only up to :data:`MAX_HEADER_BYTES`; audio is never buffered
beyond one partial sample frame plus the resampler's state. What one :meth:`feed` returns,
and the float32 temporaries it makes, grow with what it is given: a caller that must bound
them feeds pieces of at most :meth:`AudioNormalizer.input_for` bytes (a format may multiply
up to :data:`MAX_EXPANSION` times). The 16 kHz mono 16-bit case is a pass-through without
numpy, because every session pays for it on every frame.
"""

from __future__ import annotations

import enum

from shim import pcmformat
from shim.legacy.errors import Failure, SessionError
from shim.pcmformat import (
    PCM_16K_MONO,
    TARGET_RATE,
    Encoding,
    FormatError,
    PcmConverter,
    WavFormat,
)

__all__ = [
    "MAX_HEADER_BYTES",
    "PCM_16K_MONO",
    "TARGET_RATE",
    "AudioNormalizer",
    "Encoding",
    "WavFormat",
    "parse_fmt_chunk",
]

MAX_HEADER_BYTES = 64 * 1024  # RIFF header region before the data payload (AI2)
# The most a legal format multiplies on conversion: 1 kHz 8-bit mono → 16 kHz 16-bit (32x).
MAX_EXPANSION = (TARGET_RATE * 2) // 1_000

_RIFF = b"RIFF"
_WAVE = b"WAVE"
_RIFF_PREAMBLE = 12  # "RIFF" <size> "WAVE"
_CHUNK_HEADER = 8  # <id> <size>
_STREAMING_SIZES = (0, 0xFFFFFFFF)  # "size unknown": streaming writers put either here


def parse_fmt_chunk(body: bytes) -> WavFormat:
    """Read a ``fmt `` chunk body; raise SessionError if the legacy service could not use it.
    Its clients sent PCM (AI5): G.711 A-law and μ-law are refused like any other encoding."""
    try:
        fmt = pcmformat.parse_fmt_chunk(body)
    except FormatError as error:
        if error.unsupported:
            raise _unsupported(str(error)) from None
        raise _bad_header(str(error)) from None
    if fmt.encoding in (Encoding.ALAW, Encoding.MULAW):
        tag = pcmformat.TAG_ALAW if fmt.encoding is Encoding.ALAW else pcmformat.TAG_MULAW
        raise _unsupported(
            f"unsupported WAV encoding {pcmformat.tag_name(tag)} (format tag 0x{tag:04X}); send PCM"
        )
    return fmt


class _Phase(enum.Enum):
    SNIFF = enum.auto()  # start of a message: is it "RIFF....WAVE"?
    CHUNK_HEADER = enum.auto()  # walking the header's chunks: reading an id and size
    FMT_BODY = enum.auto()  # reading the fmt chunk's body
    SKIP = enum.auto()  # skipping a chunk we do not need (LIST, fact, JUNK, pad bytes)
    DATA = enum.auto()  # audio
    TRAILER = enum.auto()  # past a data chunk of real size: chunks after it, skipped
    FINISHED = enum.auto()


class AudioNormalizer:
    """Streaming converter for one session's input audio.

    Call :meth:`start_message` when a binary WebSocket message begins, :meth:`feed` with each
    of its frames or fragments, and :meth:`finish` at the end of the session. Every message
    that starts with ``RIFF....WAVE`` carries a header, which is stripped and sets the
    format; any other message is raw PCM in the current format. A data chunk of real size
    ends the audio of its message (what follows are trailing chunks); a size of 0 or
    0xFFFFFFFF means "streaming", unbounded. ``default_format`` lets a stream start without a
    header (TTS chunks); for client audio it is None and a headerless start is an error (AI6).
    """

    def __init__(self, default_format: WavFormat | None = None) -> None:
        self._default_format = default_format
        self._converter: PcmConverter | None = None
        self._phase = _Phase.SNIFF
        self._field = bytearray()  # a fixed-size field being assembled across fragments
        self._need = _RIFF_PREAMBLE
        self._skip_left = 0
        self._data_left: int | None = None  # None: unbounded
        self._header_bytes = 0
        self._header_format: WavFormat | None = None
        self._deferred: list[bytes] = []
        self._pcm_bytes_out = 0

    @property
    def pcm_bytes_out(self) -> int:
        """Normalised bytes returned so far: the session's audio position (RS7)."""
        return self._pcm_bytes_out

    @property
    def format(self) -> WavFormat | None:
        """The input format in use, once known."""
        return self._converter.format if self._converter else None

    def input_for(self, pcm_bytes: int) -> int:
        """How many input bytes to feed at once for at most about ``pcm_bytes`` of PCM (one
        sample frame at least). Outside audio data (a header may be next, declaring any
        format) the worst legal expansion is assumed."""
        converter = self._converter
        if self._phase is not _Phase.DATA or converter is None:
            return max(1, pcm_bytes // MAX_EXPANSION)
        fmt = converter.format
        block = fmt.block_align
        frames = pcm_bytes * fmt.sample_rate // (TARGET_RATE * 2)
        return max(1, frames) * block

    def start_message(self) -> None:
        """A new binary message begins: it may carry a fresh RIFF header."""
        phase = self._phase
        if phase is _Phase.FINISHED:
            raise RuntimeError("start_message() after finish()")
        if phase is _Phase.SNIFF and self._field and self._has_stream():
            # The previous message was shorter than a RIFF preamble: it was raw audio.
            self._deferred.append(self._stream().convert(bytes(self._field)))
            self._field.clear()
        elif phase in (_Phase.DATA, _Phase.TRAILER):
            self._phase, self._need = _Phase.SNIFF, _RIFF_PREAMBLE
            self._field.clear()
        # Otherwise a header is still incomplete: it continues in this message (tolerated).

    def feed(self, data: bytes | memoryview) -> bytes:
        """Take one frame or fragment of the current message; return the PCM ready so far."""
        if self._phase is _Phase.FINISHED:
            raise RuntimeError("feed() after finish()")
        out, self._deferred = self._deferred, []
        view = memoryview(data)
        size, pos = len(view), 0
        while pos < size:
            phase = self._phase
            if phase is _Phase.DATA:
                left = self._data_left
                take = size - pos if left is None else min(size - pos, left)
                # The hot path: a whole frame of audio goes through without being sliced.
                chunk = data if take == size else view[pos : pos + take]
                out.append(self._stream().convert(chunk))
                pos += take
                if left is not None:
                    self._data_left = left - take
                    if self._data_left == 0:
                        self._phase = _Phase.TRAILER
            elif phase is _Phase.TRAILER:
                pos = size  # trailing chunks (LIST, id3, …) up to the end of the message
            elif phase is _Phase.SKIP:
                take = min(size - pos, self._skip_left)
                pos += take
                self._header_bytes += take
                self._skip_left -= take
                if self._skip_left == 0:
                    self._phase, self._need = _Phase.CHUNK_HEADER, _CHUNK_HEADER
            elif phase is _Phase.SNIFF and not self._field and not _may_be_riff(view[pos:]):
                self._start_raw_audio()  # decided on bytes in place: the data stays unsliced
            else:
                take = min(size - pos, self._need - len(self._field))
                self._field += view[pos : pos + take]
                pos += take
                if phase is _Phase.SNIFF:
                    self._sniff(out)
                else:
                    self._header_bytes += take
                    if len(self._field) == self._need:
                        self._header_field(out)
        return self._emit(out)

    def finish(self) -> bytes:
        """End of the session: flush what is pending, including the resampler's tail."""
        if self._phase is _Phase.FINISHED:
            return b""
        out, self._deferred = self._deferred, []
        if self._phase is _Phase.SNIFF and self._field and self._has_stream():
            out.append(self._stream().convert(bytes(self._field)))
        if self._converter is not None:
            out.append(self._converter.flush())
        self._phase = _Phase.FINISHED
        self._field.clear()
        return self._emit(out)

    # -- parsing -------------------------------------------------------------------------

    def _sniff(self, out: list[bytes]) -> None:
        field = self._field
        if not _may_be_riff(field):
            self._start_raw_audio()
            out.append(self._stream().convert(bytes(field)))
            field.clear()
        elif len(field) == _RIFF_PREAMBLE:
            self._phase, self._need = _Phase.CHUNK_HEADER, _CHUNK_HEADER
            self._header_bytes = _RIFF_PREAMBLE
            self._header_format = None
            field.clear()
        # else undecided: wait for more of the preamble

    def _start_raw_audio(self) -> None:
        """A message without a header: raw PCM in the current format."""
        if not self._has_stream():
            raise _bad_header("audio must start with a RIFF/WAVE header")
        self._phase, self._data_left = _Phase.DATA, None

    def _header_field(self, out: list[bytes]) -> None:
        """A complete chunk header or fmt body has been assembled in ``_field``."""
        field = bytes(self._field)
        self._field.clear()
        if self._phase is _Phase.FMT_BODY:
            self._header_format = parse_fmt_chunk(field)
            self._skip(len(field) & 1)  # pad byte of an odd-sized chunk
            return
        chunk_id, chunk_size = field[:4], int.from_bytes(field[4:], "little")
        is_data = chunk_id == b"data"
        padded = 0 if is_data else chunk_size + (chunk_size & 1)
        if self._header_bytes + padded > MAX_HEADER_BYTES:
            raise _bad_header("WAV header is larger than 64 KiB before the data chunk")
        if is_data:
            if self._header_format is None:
                raise _bad_header("WAV data chunk comes before the fmt chunk")
            self._use_format(self._header_format, out)
            self._phase = _Phase.DATA
            self._data_left = None if chunk_size in _STREAMING_SIZES else chunk_size
        elif chunk_id == b"fmt ":
            if chunk_size < 16:
                raise _bad_header("WAV fmt chunk is shorter than 16 bytes")
            self._phase, self._need = _Phase.FMT_BODY, chunk_size
        else:  # LIST, fact, JUNK, …: not needed
            self._skip(padded)

    def _skip(self, count: int) -> None:
        if count:
            self._phase, self._skip_left = _Phase.SKIP, count
        else:
            self._phase, self._need = _Phase.CHUNK_HEADER, _CHUNK_HEADER

    def _use_format(self, fmt: WavFormat, out: list[bytes]) -> None:
        """Keep the converter (and resampler state) while the format stays the same, as it
        does for browser blobs; otherwise drain the old one first."""
        if self._converter is not None and self._converter.format == fmt:
            self._converter.drop_partial_frame()
            return
        if self._converter is not None:
            out.append(self._converter.flush())
        self._converter = PcmConverter(fmt)

    def _has_stream(self) -> bool:
        return self._converter is not None or self._default_format is not None

    def _stream(self) -> PcmConverter:
        if self._converter is None:
            assert self._default_format is not None, "checked by _has_stream()"
            self._converter = PcmConverter(self._default_format)
        return self._converter

    def _emit(self, out: list[bytes]) -> bytes:
        pieces = [piece for piece in out if piece]
        result = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._pcm_bytes_out += len(result)
        return result


def _may_be_riff(prefix: bytes | bytearray | memoryview) -> bool:
    """Whether ``prefix`` agrees with ``RIFF<size>WAVE`` as far as it goes."""
    head = bytes(prefix[:_RIFF_PREAMBLE])
    return head[:4] == _RIFF[: len(head)] and head[8:] == _WAVE[: max(0, len(head) - 8)]


def _bad_header(reason: str) -> SessionError:
    return SessionError(Failure.BAD_AUDIO_HEADER, reason)


def _unsupported(reason: str) -> SessionError:
    return SessionError(Failure.UNSUPPORTED_AUDIO_FORMAT, reason)
