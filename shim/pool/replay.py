"""The audio a session keeps so that another backend can take it over.

A backend that fails leaves the session to another one, which must hear again everything
after the end of the last final the client was sent (before the first final: everything).
The session core says where that is after each final (``KeepAudioFrom``); the replay keeps
the PCM written from there on and forgets what came before.

Memory: at most ``limit`` bytes. The session core pauses reading once the kept audio reaches
its read-ahead (``AUDIO_AHEAD_SECONDS``), which bounds it in practice; ``limit`` is the hard
stop behind that, for a phrase longer than the read-ahead: beyond it the kept audio is
forgotten and keeping starts again from the current position, so the session cannot move
until its next final ends after that point (:meth:`AudioReplay.start_for` says None).
"""

from __future__ import annotations

import collections

from shim.audiotime import bytes_to_ticks, ticks_to_bytes


class AudioReplay:
    """PCM written to the backend from byte :attr:`start` of the session's audio on."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self.start = 0  # bytes of the session's audio before the kept audio

    @property
    def size(self) -> int:
        return self._size

    @property
    def end(self) -> int:
        """Bytes of the session's audio written so far."""
        return self.start + self._size

    def append(self, pcm: bytes) -> None:
        if self._size + len(pcm) > self._limit:
            self._forget(self.end)  # too far behind: start again from here
            if len(pcm) > self._limit:
                self.start += len(pcm)
                return
        if pcm:
            self._chunks.append(pcm)
            self._size += len(pcm)

    def keep_from(self, tick: int) -> None:
        """Forget the audio before ``tick`` (at most what was written)."""
        cut = min(ticks_to_bytes(tick), self.end) - self.start
        if cut <= 0:
            return
        self.start += cut
        self._size -= cut
        while cut:
            head = self._chunks[0]
            if len(head) <= cut:
                self._chunks.popleft()
                cut -= len(head)
            else:
                self._chunks[0] = head[cut:]
                cut = 0

    def start_for(self, tick: int) -> int | None:
        """Where a backend taking over from ``tick`` starts (``tick`` on a whole sample), or
        None when the audio from there is not kept."""
        at = ticks_to_bytes(tick)
        if not self.start <= at <= self.end:
            return None
        return bytes_to_ticks(at)

    def audio_from(self, tick: int) -> bytes | None:
        """Everything kept from ``tick`` on (None when not kept from there)."""
        if self.start_for(tick) is None:
            return None
        skip = ticks_to_bytes(tick) - self.start
        return b"".join(self._chunks)[skip:]

    def _forget(self, position: int) -> None:
        self._chunks.clear()
        self._size = 0
        self.start = position
