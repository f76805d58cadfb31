"""Which stretches of the session's audio are loud enough to be someone speaking.

The session core uses this for one judgement only: whether the backend owes an answer. A
healthy Speech service answers speech within a second or two (hypotheses), but may stay
quiet through up to ~20 s of silence (Azure's conversation-mode silence timeouts), so a
watchdog that knows where the speech was can notice a hung backend within seconds without
mistaking silence for a hang. Long silence (ER2) is judged by the backend's own results,
not by this.
"""

from __future__ import annotations

import numpy as np

from shim.audiotime import bytes_to_ticks
from shim.legacy.audio import TARGET_RATE

BLOCK_BYTES = TARGET_RATE * 2 // 10  # 100 ms of 16 kHz mono 16-bit PCM
# -40 dBFS RMS over 100 ms: above the noise floor of every shared recording (-90 to -59 dBFS),
# below the loud parts of even the quietest speech in them.
VOICED_RMS = 32768 * 10 ** (-40 / 20)
_VOICED_SQUARE = VOICED_RMS * VOICED_RMS


def voiced_blocks(pcm: bytes, start_tick: int) -> list[int]:
    """Start ticks of the 100 ms blocks of ``pcm`` (which starts at ``start_tick``) that are
    loud enough to be speech. A last block shorter than 20 ms is ignored."""
    block = BLOCK_BYTES // 2  # samples
    count = (len(pcm) // 2) // block
    tail = (len(pcm) // 2) % block
    if tail < block // 5:
        tail = 0
    if not count and not tail:
        return []
    samples = np.frombuffer(pcm, dtype="<i2", count=count * block + tail).astype(np.float32)
    if count + (tail > 0) == 1:  # the usual case: one real-time chunk
        return (
            [start_tick] if float(np.dot(samples, samples)) / len(samples) >= _VOICED_SQUARE else []
        )
    # One vectorised pass: the mean square of every whole block (and of the tail).
    means = (
        np.einsum("ij,ij->i", whole := samples[: count * block].reshape(count, block), whole)
        / block
        if count
        else np.empty(0, dtype=np.float32)
    )
    if tail:
        rest = samples[count * block :]
        means = np.append(means, float(np.dot(rest, rest)) / tail)
    loud = np.flatnonzero(means >= _VOICED_SQUARE)
    return [start_tick + bytes_to_ticks(int(i) * BLOCK_BYTES) for i in loud]
