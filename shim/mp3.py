"""MP3 encoding: the drop-in server's ``format=audio/mp3`` TTS segments (TS4) and the local
Speech service's MP3 output formats.

LAME through ``lameenc`` (a 200 kB wheel that bundles the encoder): no ffmpeg, whose Debian
package and its ~190 dependencies were most of the container image. Blocking: call it from a
bounded executor, never on the event loop. A neutral module (it imports nothing from
``shim``), so the local Speech service does not reach into the server for it.
"""

from __future__ import annotations

import io
import wave

import lameenc


class Mp3EncodingError(RuntimeError):
    """The input is not a 16-bit PCM WAV file the encoder can take."""


def encode_mp3(wav: bytes, bitrate: str = "32k") -> bytes:
    """Encode a complete RIFF/WAV file (16-bit PCM, mono or stereo) as MP3 bytes.

    32 kbit/s is plenty for 16 kHz mono speech (MPEG-2 Layer III).
    """
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            channels, width, rate = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            pcm = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise Mp3EncodingError(f"MP3 encoding failed: not a PCM WAV file ({exc})") from exc
    if width != 2 or channels not in (1, 2):
        raise Mp3EncodingError(
            f"MP3 encoding failed: {8 * width}-bit {channels}-channel audio;"
            " 16-bit mono or stereo expected"
        )
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(int(bitrate.rstrip("k")))
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(channels)
    encoder.set_quality(2)  # LAME's "high quality" preset; speech segments are short
    return bytes(encoder.encode(pcm) + encoder.flush())
