"""What legacy clients need from a TTS message's bytes (TS3, TS4), from its first bytes.

Recordings keep only the first bytes of server audio by default, so these checks work on a
message's head and total size: that is all a 46-byte WAV header or an MP3 frame header
needs, and what players relying on the RIFF size (the official WPF client) use as well.
"""

from __future__ import annotations

import struct

WAV_HEADER = 46
PCM_RATE = 16_000

# Layer III bitrates (kbit/s) by bitrate index: MPEG-1, then MPEG-2 and 2.5.
_MPEG1_L3 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_L3 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


def is_wav(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def wav_problems(head: bytes, size: int) -> list[str]:
    """Why a message of ``size`` bytes starting with ``head`` is not the legacy TTS WAV:
    RIFF, an 18-byte ``fmt `` chunk (46-byte header), PCM 16-bit mono 16 kHz, sizes filled."""
    if len(head) < WAV_HEADER:
        return [f"only {len(head)} bytes known; a 46-byte WAV header is needed"]
    if not is_wav(head):
        return [f"does not start with RIFF….WAVE: {head[:12]!r}"]
    problems = []
    riff_size = struct.unpack_from("<I", head, 4)[0]
    if riff_size != size - 8:
        problems.append(
            f"RIFF size {riff_size} but the message has {size} bytes (expected {size - 8})"
        )
    if head[12:16] != b"fmt " or struct.unpack_from("<I", head, 16)[0] != 18:
        problems.append("the fmt chunk is not 18 bytes long (not a 46-byte header)")
        return problems
    tag, channels, rate, byte_rate, block, bits = struct.unpack_from("<HHIIHH", head, 20)
    if (tag, channels, rate, bits) != (1, 1, PCM_RATE, 16):
        problems.append(
            f"format {tag}, {channels} channel(s), {rate} Hz, {bits} bit;"
            " expected PCM mono 16 kHz 16-bit"
        )
    elif (byte_rate, block) != (PCM_RATE * 2, 2):
        problems.append(
            f"byte rate {byte_rate} / block align {block} inconsistent with PCM mono 16-bit"
        )
    if head[38:42] != b"data":
        problems.append(f"no data chunk at byte 38 (found {head[38:42]!r})")
    elif struct.unpack_from("<I", head, 42)[0] != size - WAV_HEADER:
        data_size = struct.unpack_from("<I", head, 42)[0]
        problems.append(f"data size {data_size}, expected {size - WAV_HEADER}")
    return problems


def _id3_length(head: bytes) -> int:
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size


def is_mp3(head: bytes) -> bool:
    """An ID3v2 tag or an MPEG audio frame sync at the start."""
    return head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _mp3_bitrate(head: bytes, offset: int) -> int | None:
    if len(head) < offset + 4 or head[offset] != 0xFF or head[offset + 1] & 0xE0 != 0xE0:
        return None
    version = (head[offset + 1] >> 3) & 0x3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    layer = (head[offset + 1] >> 1) & 0x3  # 1: Layer III
    index = head[offset + 2] >> 4
    if layer != 1 or version == 1 or not 0 < index < 15:
        return None
    return (_MPEG1_L3 if version == 3 else _MPEG2_L3)[index] * 1000


def duration_seconds(head: bytes, size: int) -> float | None:
    """Playing time of a TTS message: exact for the WAV, estimated (CBR) for an MP3 whose
    first frame header is within ``head``; None when unknown."""
    if is_wav(head) and len(head) >= 32:
        byte_rate = struct.unpack_from("<I", head, 28)[0]
        header = WAV_HEADER if head[12:16] == b"fmt " and head[16] == 18 else 44
        return max(size - header, 0) / byte_rate if byte_rate else None
    offset = _id3_length(head)
    bitrate = _mp3_bitrate(head, offset)
    if bitrate:
        return max(size - offset, 0) * 8 / bitrate
    return None
