"""Observers of a legacy socket's frames, for capture and shadow comparison.

A tap sees every client frame as the parser hands it over (pieces of data frames with their
frame and message boundaries, control frames whole) and every frame the server writes, with
the monotonic time. Taps run on the loop and must be cheap: they copy references and queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shim.wsframes import Control, DataChunk, Opcode


class FrameTap(Protocol):
    def received(self, item: DataChunk | Control, at: float) -> None: ...

    def sent(self, opcode: Opcode, fin: bool, payload: bytes, at: float) -> None: ...


class Taps:
    """Several taps as one."""

    def __init__(self, taps: Sequence[FrameTap]) -> None:
        self._taps = tuple(taps)

    def received(self, item: DataChunk | Control, at: float) -> None:
        for tap in self._taps:
            tap.received(item, at)

    def sent(self, opcode: Opcode, fin: bool, payload: bytes, at: float) -> None:
        for tap in self._taps:
            tap.sent(opcode, fin, payload, at)


def combine(taps: Sequence[FrameTap | None]) -> FrameTap | None:
    """None when there is nothing to tap (the socket then pays nothing)."""
    present = [tap for tap in taps if tap is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else Taps(present)
