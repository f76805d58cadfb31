"""MP3 encoding of TTS segments for ``format=audio/mp3`` (TS4).

Blocking (pydub runs ffmpeg in a subprocess): call it from a bounded executor, never on the
event loop. pydub is imported lazily because it warns at import time when ffmpeg is missing,
and a server without MP3 clients should not care.
"""

from __future__ import annotations

import io
import shutil


class Mp3EncoderUnavailable(RuntimeError):
    """ffmpeg (with an MP3 encoder) is not installed, so ``format=audio/mp3`` cannot be served."""


class Mp3EncodingError(RuntimeError):
    """ffmpeg ran but could not turn the WAV into MP3."""


def encode_mp3(wav: bytes, bitrate: str = "32k") -> bytes:
    """Encode a complete RIFF/WAV file as MP3 bytes.

    32 kbit/s is plenty for 16 kHz mono speech (MPEG-2 Layer III).
    """
    if shutil.which("ffmpeg") is None:
        raise Mp3EncoderUnavailable(
            "ffmpeg not found on PATH: install it (e.g. apt-get install ffmpeg) to serve "
            "format=audio/mp3"
        )
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError, CouldntEncodeError

    try:
        segment = AudioSegment.from_file(io.BytesIO(wav), format="wav")
        out = io.BytesIO()
        segment.export(out, format="mp3", bitrate=bitrate)
    except (CouldntDecodeError, CouldntEncodeError) as exc:
        # The first line says what failed; ffmpeg's full log stays on the chained exception.
        summary = (str(exc).strip().splitlines() or ["unknown error"])[0]
        raise Mp3EncodingError(f"MP3 encoding failed: {summary}") from exc
    return out.getvalue()
