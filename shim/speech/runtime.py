"""The Speech SDK's process-wide resources: the threads that call it and its live recognizers.

One :class:`SpeechRuntime` per app (the shadow sessions have their own), created at start
and closed through aiohttp's ``cleanup_ctx``; an ``atexit`` hook only backs it up (an exit
with callbacks connected and events in flight aborts the process, usp-speech-service.md
§10). The bridge's sessions (``bridge.SpeechSession``) run their blocking SDK calls on its
threads and register while their recognizer lives.

Memory: the audio threads' queue holds at most one pump per session with audio waiting
(a session queues its pump only when its outbox turns non-empty).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

log = logging.getLogger("shim.speech")


class LiveRecognizer(Protocol):
    """A session whose recognizer may still have callbacks connected (``bridge``)."""

    def emergency_stop(self) -> None:
        """Disconnect its callbacks and stop its recognizer now, blocking."""


class AudioWriters:
    """Threads that hand queued audio to the SDK (``PushAudioInputStream.write`` can block for
    tens of milliseconds under load). A session queues its pump when its outbox turns
    non-empty: ``SimpleQueue.put`` is one C call, where an executor's ``submit`` builds a
    future and takes two locks — every session pays it ten times a second."""

    def __init__(self, count: int) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"sdk-audio-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, pump: Callable[[], None]) -> None:
        if self._closed:
            raise RuntimeError("the audio writers are shut down")
        self._queue.put(pump)

    def _run(self) -> None:
        while (pump := self._queue.get()) is not None:
            try:
                pump()
            except Exception:
                log.exception("writing audio to the SDK failed")
            # Not kept while the thread waits for the next: it holds its session alive.
            pump = None

    def shutdown(self) -> None:
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)


class SpeechRuntime:
    """The SDK's process-wide resources: thread pools and the live recognizers.

    SDK lifecycle calls are short, except stop/destroy which may wait up to the stop timeout:
    a few threads keep one slow teardown from delaying other sessions' starts. Probes of a
    pool's resources wait seconds for a service that may hang: they have threads of their own
    (``probes``), so they never hold up a session's start.
    """

    def __init__(
        self, *, lifecycle_threads: int = 8, audio_threads: int = 4, probe_threads: int = 2
    ) -> None:
        self.lifecycle = ThreadPoolExecutor(lifecycle_threads, thread_name_prefix="sdk-lifecycle")
        self.probes = ThreadPoolExecutor(probe_threads, thread_name_prefix="sdk-probe")
        self.audio = AudioWriters(audio_threads)
        self._live: weakref.WeakSet[LiveRecognizer] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.closed = False
        _runtimes.add(self)

    def register(self, session: LiveRecognizer) -> None:
        with self._lock:
            self._live.add(session)

    def unregister(self, session: LiveRecognizer) -> None:
        with self._lock:
            self._live.discard(session)

    @property
    def live(self) -> int:
        with self._lock:
            return len(self._live)

    def stop_all(self) -> None:
        """Disconnect and stop every live recognizer (blocking; the §10 safety net)."""
        with self._lock:
            sessions = list(self._live)
        for session in sessions:
            session.emergency_stop()

    async def close(self) -> None:
        """Stop what is still live, then the pools. Sessions must not start afterwards."""
        if self.closed:
            return
        self.closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.stop_all)
        # Teardowns already under way (abandoned sessions) finish before the pools go: an
        # exit while they run could abort the process (§10). Each is bounded by the stop timeout.
        await loop.run_in_executor(None, self.lifecycle.shutdown, True)
        await loop.run_in_executor(None, self.probes.shutdown, True)  # each bounded by its timeout
        self.audio.shutdown()
        _runtimes.discard(self)


_runtimes: weakref.WeakSet[SpeechRuntime] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    """Backstop for a runtime that was never closed: an exit with callbacks connected and
    events in flight aborts the process (spec §10)."""
    for runtime in list(_runtimes):
        runtime.stop_all()
