"""A log handler that never blocks the event loop on a slow or unread stderr.

A server's log line is a blocking ``write(2)`` to stderr. When stderr is a pipe nobody
reads (a test or load harness that started the process with ``stderr=PIPE`` and reads only
the ``ready`` line), the 64 KiB pipe buffer fills after a few hundred lines and the next
log call blocks the event loop for good: every connection stalls and the process sits idle.
The local Speech service logs six lines per session, so this happened in the second batch
of 50 sessions.

:class:`BackgroundStreamHandler` is a ``StreamHandler`` that filters and formats in the
caller, as before, and leaves only the write to one daemon thread. Its queue is bounded:
while the stream is blocked, lines beyond ``MAX_QUEUED`` are dropped and counted, and the
count is logged once there is room again. ``flush`` (which ``logging.shutdown`` calls at
exit) waits a moment for queued lines, never for a blocked stream. Memory: at most
``MAX_QUEUED`` formatted lines (a few MB).

Hand-written rather than ``logging.handlers.QueueHandler``/``QueueListener``: those move
formatting to the writer thread's handler after ``QueueHandler.prepare`` has already merged
the exception text into the message, which changes the JSON format's fields; they also put
the stop sentinel with ``put_nowait`` and join without a timeout, which fails or hangs on a
full queue behind a blocked stream.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import IO

MAX_QUEUED = 10_000
FLUSH_WAIT_SECONDS = 2.0
_BATCH = 256  # lines joined into one write while the writer is behind


class BackgroundStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Formats in the caller; one daemon thread writes; drops (and counts) beyond a bound."""

    def __init__(self, stream: IO[str], max_queued: int = MAX_QUEUED) -> None:
        super().__init__(stream)
        self._lines: queue.Queue[str | None] = queue.Queue(max_queued)
        self.dropped = 0
        self._writer = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        # Called with the handler's lock held (Handler.handle): the drop count is consistent.
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        if self.dropped:
            if not self._offer(self._dropped_note(self.dropped)):
                self.dropped += 1
                return
            self.dropped = 0
        if not self._offer(line):
            self.dropped += 1

    def _offer(self, text: str | None) -> bool:
        try:
            self._lines.put_nowait(text)
        except queue.Full:
            return False
        return True

    def _dropped_note(self, count: int) -> str:
        note = logging.LogRecord(
            "shim.logs",
            logging.WARNING,
            __file__,
            0,
            "%d log records dropped: the log stream was not being read",
            (count,),
            None,
        )
        return self.format(note) + self.terminator

    def _write(self) -> None:
        lines = self._lines
        while True:
            batch = [lines.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(lines.get_nowait())
                except queue.Empty:
                    break
            texts = [text for text in batch if text is not None]
            try:
                if texts:
                    self.stream.write("".join(texts))
                    self.stream.flush()
            except Exception:
                pass  # nowhere left to report a failing log stream
            finally:
                for _ in batch:
                    lines.task_done()
            if len(texts) < len(batch):
                return  # close(): the sentinel

    def flush(self) -> None:
        """Wait a moment for queued lines to be written; never hang on a blocked stream."""
        deadline = time.monotonic() + FLUSH_WAIT_SECONDS
        while self._lines.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        """Stop the writer once it has caught up (else it dies with the process)."""
        self.flush()
        if not self._lines.unfinished_tasks:
            self._offer(None)
        super().close()
