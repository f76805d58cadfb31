"""Text-to-speech segments: SDK audio chunks in, one legacy WAV message out (TS1–TS3).

The Speech SDK hands out a final's synthesized speech as several ``synthesizing`` chunks,
each usually a small RIFF file of its own (sometimes a bare header, sometimes headerless
continuation PCM). Legacy clients want exactly one binary message per final holding one
complete RIFF file whose RIFF size is right (the WPF client counts down from it), with the
46-byte header the real service sent, split into several WebSocket frames.
"""

from __future__ import annotations

import struct
from typing import Generic, TypeVar

from shim.legacy.audio import PCM_16K_MONO, TARGET_RATE, AudioNormalizer
from shim.legacy.errors import Failure, LegacyError, SessionError

WAV_HEADER_BYTES = 46  # RIFF preamble 12 + fmt chunk 8+18 + data chunk header 8
DEFAULT_FRAME_SIZE = 16_384
Final = TypeVar("Final")


def wav_header(data_size: int) -> bytes:
    """A 46-byte header for 16 kHz mono 16-bit PCM: ``fmt `` of 18 bytes, cbSize 0 (TS3)."""
    fmt = struct.pack("<HHIIHHH", 1, 1, TARGET_RATE, TARGET_RATE * 2, 2, 16, 0)
    return (
        b"RIFF"
        + struct.pack("<I", WAV_HEADER_BYTES - 8 + data_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_size)
    )


class TtsSegment:
    """Collects one final's synthesized audio into one WAV file."""

    def __init__(self) -> None:
        # Headerless SDK chunks are taken as 16 kHz mono 16-bit: the format we ask for.
        self._normalizer = AudioNormalizer(default_format=PCM_16K_MONO)
        self._pcm: list[bytes] = []
        self._wav: bytes | None = None

    @property
    def pcm_bytes(self) -> int:
        """PCM bytes collected so far (excluding the resampler tail until :meth:`wav`)."""
        return self._normalizer.pcm_bytes_out

    def add_chunk(self, chunk: bytes) -> None:
        """Take one ``synthesizing`` chunk; its own RIFF header, if any, gives its format."""
        if self._wav is not None:
            raise RuntimeError("add_chunk() after wav()")
        if not chunk:
            return  # the SDK's empty end-of-synthesis marker
        try:
            self._normalizer.start_message()
            self._pcm.append(self._normalizer.feed(chunk))
        except LegacyError as exc:
            # Not the client's fault: a close reason must not blame its audio (ER4).
            raise SessionError(
                Failure.BACKEND_ERROR, "Speech backend sent unreadable TTS audio"
            ) from exc

    def wav(self) -> bytes:
        """The complete RIFF file; the segment is closed after the first call."""
        if self._wav is None:
            self._pcm.append(self._normalizer.finish())
            size = sum(len(piece) for piece in self._pcm)
            self._wav = b"".join([wav_header(size), *self._pcm])
            self._pcm = []
        return self._wav


class FinalSpeech(Generic[Final]):
    """The synthesized speech of one final at a time, while the SDK delivers it.

    The SDK synthesizes a final's translation after the final: :meth:`expect` it when the
    final is handled, feed its ``synthesizing`` chunks, and :meth:`complete` gives the final
    and its one WAV file. ``Final`` is what names a final for the caller (the legacy session:
    its result id; the backend recorder: the utterance's index).
    """

    def __init__(self) -> None:
        self._pending: tuple[Final, TtsSegment] | None = None

    @property
    def waiting(self) -> bool:
        """A final's synthesis has been expected and has not completed."""
        return self._pending is not None

    def expect(self, final: Final) -> None:
        """Synthesis of ``final`` follows (it replaces any still waiting)."""
        self._pending = (final, TtsSegment())

    def restart(self) -> Final:
        """The waiting final's speech starts over (from another backend): what of it arrived
        is forgotten. Only while :attr:`waiting`."""
        if self._pending is None:
            raise RuntimeError("restart() with no final waiting")
        final = self._pending[0]
        self._pending = (final, TtsSegment())
        return final

    def forget(self) -> None:
        """No synthesis follows the latest final: chunks until the next :meth:`expect` are
        dropped."""
        self._pending = None

    def add_chunk(self, chunk: bytes) -> None:
        if self._pending is not None:
            self._pending[1].add_chunk(chunk)

    def complete(self) -> tuple[Final, bytes] | None:
        """The SDK finished: the final and its WAV file, or None when none was waiting."""
        if self._pending is None:
            return None
        final, segment = self._pending
        self._pending = None
        return final, segment.wav()


def fragment(payload: bytes, frame_size: int = DEFAULT_FRAME_SIZE) -> list[bytes]:
    """The frames of ONE binary WebSocket message: at least two, none empty (TS2).

    Clients detect the end of a TTS segment by the FIN bit of a continuation frame, so even a
    payload that fits one frame is split in two.
    """
    if frame_size < 1:
        raise ValueError("frame_size must be positive")
    if len(payload) < 2:
        raise ValueError("a TTS payload needs at least 2 bytes to span 2 frames")
    if len(payload) <= frame_size:
        half = len(payload) // 2
        return [payload[:half], payload[half:]]
    return [payload[start : start + frame_size] for start in range(0, len(payload), frame_size)]
