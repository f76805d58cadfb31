"""What one session tells the operator: Prometheus samples and the backend's health.

The edge calls these as it executes the session core's commands and hands it backend
events; nothing here decides anything about the session.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

from shim.audiotime import BYTES_PER_SECOND, bytes_to_ticks
from shim.legacy.vocabulary import Ending, SendResult, SendTts
from shim.server import metrics
from shim.speech.events import BridgeEvent, Canceled, Recognized

_UNREACHABLE_AFTER = 3  # sessions in a row whose backend never connected
_UNREACHABLE_WINDOW = 60.0  # seconds: older failures do not count
_UNREACHABLE_CODES = frozenset(
    {"ConnectionFailure", "ServiceUnavailable", "ServiceTimeout", "ServiceError"}
)


@dataclass
class BackendHealth:
    """Whether the speech backend is known to be unreachable (for ``/readyz``).

    Known unreachable: the last few sessions in a row failed before their SDK connection ever
    opened, all within a minute. Any connection that opens clears it. Passive on purpose: an
    active probe would spend backend quota (and Azure has no free health endpoint).
    """

    _failures: collections.deque[float] = field(default_factory=collections.deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def connected(self) -> None:
        """An SDK connection opened (may be called on an SDK thread)."""
        with self._lock:
            self._failures.clear()

    def never_connected(self, now: float) -> None:
        with self._lock:
            self._failures.append(now)
            while len(self._failures) > _UNREACHABLE_AFTER:
                self._failures.popleft()

    def unreachable(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._failures if now - t <= _UNREACHABLE_WINDOW]
        return len(recent) >= _UNREACHABLE_AFTER


class SessionTelemetry:
    """One session's samples: audio in, results and TTS out, latencies, the ending.

    Memory: one (audio end, time) pair per audio write not yet answered by a final, bounded
    by the session core's read-ahead.
    """

    def __init__(self, health: BackendHealth, audio_format: str) -> None:
        self._health = health
        self._format = audio_format.split("/")[-1]  # wav, mp3
        self._written = 0  # ticks of audio written to the backend
        self._writes: collections.deque[tuple[int, float]] = collections.deque()
        self._connections = 0
        self._cancel_code: str | None = None
        metrics.SESSIONS_OPEN.inc()

    @property
    def cancel_code(self) -> str | None:
        """The SDK's CancellationErrorCode of a backend error, for the session-end log line."""
        return self._cancel_code

    def audio_written(self, pcm: bytes, now: float) -> None:
        metrics.AUDIO_RECEIVED.inc(len(pcm) / BYTES_PER_SECOND)
        self._written += bytes_to_ticks(len(pcm))
        self._writes.append((self._written, now))

    def backend_event(self, event: BridgeEvent, now: float) -> None:
        if isinstance(event, Recognized) and not event.silence:
            end = event.offset + event.duration
            written_at = None
            while self._writes and self._writes[0][0] <= end:
                written_at = self._writes.popleft()[1]
            if self._writes and written_at is None:
                written_at = self._writes[0][1]  # the write that carried the utterance's end
            if written_at is not None:
                metrics.BACKEND_LATENCY.observe(max(0.0, now - written_at))
        elif isinstance(event, Canceled) and event.reason == "Error":
            self._cancel_code = event.code
            metrics.BACKEND_CANCELLATIONS.labels(event.code).inc()

    def connected(self) -> None:
        """The SDK's connection opened (an SDK thread calls this)."""
        self._connections += 1
        metrics.BACKEND_CONNECTIONS.inc()
        if self._connections > 1:
            metrics.BACKEND_RECONNECTS.inc()
        self._health.connected()

    def sent(self, command: SendResult | SendTts, size: int, result_at: float | None) -> None:
        """``size``: bytes written; ``result_at``: when the SDK produced the result."""
        if isinstance(command, SendResult):
            metrics.RESULTS_SENT.labels(command.kind).inc()
            metrics.RESULT_BYTES_SENT.labels(command.kind).inc(size)
            if command.kind == "final" and result_at is not None:
                metrics.FINAL_LATENCY.observe(max(0.0, time.monotonic() - result_at))
        else:
            metrics.TTS_MESSAGES_SENT.labels(self._format).inc()
            metrics.TTS_BYTES_SENT.labels(self._format).inc(size)

    def ended(self, ending: Ending | None, now: float) -> None:
        metrics.SESSIONS_OPEN.dec()
        outcome = ending.failure.value if ending else "internal"
        code = str(ending.code) if ending and ending.code is not None else "none"
        metrics.SESSIONS.labels(outcome, code).inc()
        if self._connections == 0 and self._cancel_code in _UNREACHABLE_CODES:
            self._health.never_connected(now)
