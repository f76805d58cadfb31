"""Time in audio, defined once: 100-ns ticks and bytes of 16 kHz mono 16-bit PCM.

The Speech SDK, the USP wire and the legacy ``TimingInfo`` all count 100-ns ticks; every
recognizer here is fed 16 kHz mono 16-bit PCM, the documented legacy input. A neutral module
(it imports nothing from ``shim``) so the legacy core, the local Speech service and the
harness share the numbers without importing each other.
"""

from __future__ import annotations

TICKS_PER_SECOND = 10_000_000
TICKS_PER_MS = 10_000
SAMPLE_RATE = 16_000
BYTES_PER_SAMPLE = 2
BYTES_PER_SECOND = SAMPLE_RATE * BYTES_PER_SAMPLE  # 32,000
TICKS_PER_SAMPLE = TICKS_PER_SECOND // SAMPLE_RATE  # 625


def bytes_to_ticks(count: int) -> int:
    """PCM bytes → 100-ns ticks (1 byte = 312.5 ticks, rounded down)."""
    return count * TICKS_PER_SECOND // BYTES_PER_SECOND


def ticks_to_bytes(ticks: int) -> int:
    """100-ns ticks → PCM bytes, rounded down to a whole sample."""
    count = ticks * BYTES_PER_SECOND // TICKS_PER_SECOND
    return count - count % BYTES_PER_SAMPLE
