"""The audio a session keeps so that another backend can be given it again.

A backend that fails before its first result has heard nothing that reached the client: the
session can start again elsewhere if it still has every byte of audio it wrote. From its
first result on a session keeps nothing (failover mid-session, which would keep the audio
after the last final, is not built yet: :meth:`AudioReplay.keep_from` is its seam).

Memory: at most ``limit`` bytes. The session core already stops reading a client whose audio
is ``AUDIO_AHEAD_SECONDS`` ahead of what the backend answered, which bounds what a session
writes before its first result; ``limit`` is the hard stop behind that: beyond it the kept
audio is dropped and the replay is :attr:`AudioReplay.lost` (the session can no longer move).
"""

from __future__ import annotations

import collections

from shim.audiotime import bytes_to_ticks, ticks_to_bytes


class AudioReplay:
    """PCM written to the backend from tick :attr:`start` on, in order."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self.start = 0  # ticks of the session's audio where the kept audio begins
        self.lost = False  # over the limit, or dropped: no replay possible

    @property
    def size(self) -> int:
        return self._size

    def append(self, pcm: bytes) -> None:
        if self.lost or not pcm:
            return
        if self._size + len(pcm) > self._limit:
            self.drop()
            return
        self._chunks.append(pcm)
        self._size += len(pcm)

    def audio(self) -> bytes | None:
        """Everything kept, from :attr:`start` (None when lost)."""
        return None if self.lost else b"".join(self._chunks)

    def keep_from(self, tick: int) -> None:
        """Forget the audio before ``tick`` (at most what was written)."""
        if self.lost or tick <= self.start:
            return
        cut = min(ticks_to_bytes(tick - self.start), self._size)
        self.start += bytes_to_ticks(cut)
        self._size -= cut
        while cut:
            head = self._chunks[0]
            if len(head) <= cut:
                self._chunks.popleft()
                cut -= len(head)
            else:
                self._chunks[0] = head[cut:]
                cut = 0

    def drop(self) -> None:
        """Keep nothing from now on."""
        self.lost = True
        self._chunks.clear()
        self._size = 0
