"""A session's traffic with its client, sans-I/O: what it was sent and has taken, whether it
is being read, and when it counts as gone (the decisions are :mod:`shim.legacy.conduct`'s).

* **Slow readers.** Reading the client pauses while more than ``OUTBOX_HIGH_BYTES`` of
  results wait for it, and resumes below ``OUTBOX_LOW_BYTES``.
* **The write timeout.** A send the client has not taken (no ``Delivered``) for
  ``write_timeout`` seconds means it stopped reading: the session is abandoned (it could not
  even be sent a Close). The timeout counts from the client's last progress, also for the
  sends before the core's Close.
* **Half-close.** A client that ends its side of the connection (``ClientEnded``: TCP
  end-of-stream, TLS close_notify) may still read: the Node ``websocket`` library sends its
  Close, shuts its side down at once and reads for 5 s more. Its end of stream is no
  disappearance: the flush goes on and every owed final is sent. An end of stream without a
  Close frame ends the audio like a Close (the client can send nothing more) and the flush
  goes on while writes succeed. Only a failed write, a reset or the write timeout mean the
  client is gone.
* **Liveness while paused.** While reading is paused nothing the client sends is read, so a
  client that died behind its unread audio would go unnoticed. The core asks the executor to
  check the client (``CheckClient``: a Ping, whose write fails once the client's TCP answered
  the previous one with a reset) every half ``liveness_timeout`` of paused time in which
  nothing was written to it (a write is such a check itself): a gone client is noticed within
  ``liveness_timeout``. A backend that answers, however slowly, does not put the check off.
* **Idle.** A client that sends no audio for ``idle_timeout`` while it is being read ends
  its audio (ER2); a pause is not the client being idle.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTBOX_HIGH_BYTES = 1 << 20  # results not yet written to a slow client: pause reading above
OUTBOX_LOW_BYTES = 256 << 10  # ... and resume below


@dataclass
class Pauses:
    """Why reading the client is paused (either reason holds it)."""

    backend: bool = False  # read-ahead window full
    client: bool = False  # results waiting for a slow reader

    @property
    def any(self) -> bool:
        return self.backend or self.client


class ClientFlow:
    """What a session sent its client and the client took, and its reading's pauses."""

    def __init__(self, now: float) -> None:
        self.pauses = Pauses()
        self.unsent = 0  # bytes of sends not yet delivered
        self.write_since: float | None = None  # sends wait: the client's last progress
        self.checked_at = now  # reading paused: the last write to the client, or check
        self.idle_since = now  # last audio, or the end of the last pause

    def sent(self, size: int, now: float) -> None:
        if not self.unsent:
            self.write_since = now  # the write timeout counts from here
        self.unsent += size

    @property
    def backed_up(self) -> bool:
        """So much waits for the client that reading it must pause."""
        return self.unsent > OUTBOX_HIGH_BYTES and not self.pauses.client

    def delivered(self, size: int, now: float) -> bool:
        """The client took a send; True: a pause for it may end."""
        self.unsent = max(0, self.unsent - size)
        self.write_since = now if self.unsent else None
        self.checked_at = now  # a write reaches the client's TCP: as good as a check
        return self.pauses.client and self.unsent < OUTBOX_LOW_BYTES

    def write_deadline(self, timeout: float) -> float | None:
        return None if self.write_since is None else self.write_since + timeout

    def write_overdue(self, now: float, timeout: float) -> bool:
        deadline = self.write_deadline(timeout)
        return deadline is not None and now >= deadline

    def pause(
        self, now: float | None, *, backend: bool = False, client: bool = False, reading: bool
    ) -> bool:
        """True: reading must pause now (it was not paused, and the client is ``reading``).
        ``now``: when the pause begins (None: a send caused it; the last check stands)."""
        was = self.pauses.any
        self.pauses.backend |= backend
        self.pauses.client |= client
        if was or not reading:
            return False
        if now is not None:
            self.checked_at = now
        return True

    def resume(
        self, now: float, *, backend: bool = False, client: bool = False, reading: bool
    ) -> bool:
        """True: reading may go on (nothing holds it, and the client is ``reading``)."""
        if backend:
            self.pauses.backend = False
        if client:
            self.pauses.client = False
        if self.pauses.any or not reading:
            return False
        self.idle_since = max(self.idle_since, now)  # a pause is not the client being idle
        return True

    def check_due(self, now: float, liveness_timeout: float) -> bool:
        """Paused: the client is due a check (``CheckClient``)."""
        if not self.pauses.any or now < self.checked_at + liveness_timeout / 2:
            return False
        self.checked_at = now
        return True

    def deadline(self, idle_timeout: float, liveness_timeout: float) -> float:
        """While streaming: when the client is idle, or (paused) due a check."""
        if self.pauses.any:
            return self.checked_at + liveness_timeout / 2
        return self.idle_since + idle_timeout

    def idle(self, now: float, idle_timeout: float) -> bool:
        return not self.pauses.any and now >= self.idle_since + idle_timeout
