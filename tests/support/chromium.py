"""Headless Chromium for report tests: the rendered DOM and a screenshot, and a PNG reader.

The reports must open offline in a real browser, so the tests render them with Debian's
``chromium`` (no network features, a throw-away profile) instead of parsing HTML text. PNG
pixels are read with zlib (no Pillow) to tell a blank page from a rendered one.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(page: Path, profile: Path, *extra: str, timeout: float = 90.0) -> str:
    program = executable()
    assert program is not None
    result = subprocess.run(
        [program, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after rendering, serialized by the browser."""
    return _run(page, profile, "--dump-dom")


def screenshot(page: Path, profile: Path, png: Path) -> bytes:
    _run(page, profile, f"--screenshot={png}")
    return png.read_bytes()


def _paeth_or_average(kind: int, line: bytearray, previous: bytes, channels: int) -> None:
    for x in range(len(line)):
        left = line[x - channels] if x >= channels else 0
        up = previous[x]
        if kind == 3:
            line[x] = (line[x] + (left + up) // 2) & 0xFF
            continue
        corner = previous[x - channels] if x >= channels else 0
        estimate = left + up - corner
        pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
        nearest = left if pa <= pb and pa <= pc else up if pb <= pc else corner
        line[x] = (line[x] + nearest) & 0xFF


def png_pixels(data: bytes) -> np.ndarray:
    """The pixels of an 8-bit RGB or RGBA PNG as a (height, width, channels) array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, width, height, channels = 8, b"", 0, 0, 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), f"PNG depth {depth} colour type {colour}"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, -1)
    pixels = np.zeros((height, width * channels), dtype=np.uint8)
    previous = np.zeros(width * channels, dtype=np.uint8)
    for y in range(height):
        kind, line = int(raw[y, 0]), raw[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:
            row = np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            row = line + previous  # uint8 arithmetic wraps, as PNG needs
        else:
            unfiltered = bytearray(line.tobytes())
            _paeth_or_average(kind, unfiltered, previous.tobytes(), channels)
            row = np.frombuffer(bytes(unfiltered), dtype=np.uint8)
        pixels[y] = row
        previous = row
    return pixels.reshape(height, width, channels)


def colour_census(data: bytes) -> tuple[int, float]:
    """(distinct RGB colours, share of pixels that are not the most common colour)."""
    pixels = png_pixels(data)[:, :, :3].reshape(-1, 3)
    packed = (pixels[:, 0].astype(np.uint32) << 16) | (pixels[:, 1].astype(np.uint32) << 8)
    packed |= pixels[:, 2]
    _, counts = np.unique(packed, return_counts=True)
    return len(counts), 1 - counts.max() / counts.sum()
