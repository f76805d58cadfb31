"""Which live sessions are captured or shadowed: a sampled share, and each key's own choice.

Sampling is systematic, not random: with rate ``r`` the n-th session is taken when
``floor(n·r)`` steps up, so exactly that share of a process's sessions is taken, spread
evenly, and a test (or an operator counting files) sees the rate it set. With ``--workers``
each worker samples its own sessions, so the server as a whole takes the same share.

A key in the keys file may opt in (``capture=always``: every session of that key, even
at rate 0) or out (``capture=never``: none, whatever the rate); sessions of keys without a
choice, and all sessions in open and passthrough modes, are sampled at the rate.
"""

from __future__ import annotations

import math
import threading

from shim.auth.keys import CaptureChoice


class Sampler:
    """Takes ``rate`` (0–1) of the sessions it is asked about, evenly spread."""

    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sampling rate {rate!r}: choose 0 to 1")
        self.rate = rate
        self._seen = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Whether the next session is in the sample."""
        with self._lock:
            before = math.floor(self._seen * self.rate + 1e-9)
            self._seen += 1
            return math.floor(self._seen * self.rate + 1e-9) > before

    def decide(self, choice: CaptureChoice) -> bool:
        """The sample, overruled by a key's own choice (a choice does not use up a turn)."""
        if choice == "always":
            return True
        if choice == "never":
            return False
        return self.take()
