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
    usable = len(pcm) - len(pcm) % 2
    if usable < BLOCK_BYTES // 5:
        return []
    samples = np.frombuffer(pcm, dtype="<i2", count=usable // 2).astype(np.float32)
    block = BLOCK_BYTES // 2
    starts: list[int] = []
    for index in range(0, len(samples), block):
        piece = samples[index : index + block]
        if len(piece) < block // 5:
            break
        if float(np.mean(piece * piece)) >= _VOICED_SQUARE:
            starts.append(start_tick + bytes_to_ticks(index * 2))
    return starts
