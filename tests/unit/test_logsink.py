"""Logging through a writer thread: a blocked stream costs dropped lines, never a stall."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest

from shim.logsink import BackgroundStreamHandler

pytestmark = pytest.mark.unit


class StalledStream(io.StringIO):
    """A stream whose writes wait until it is released, like a full pipe nobody reads."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    def write(self, text: str) -> int:
        self.released.wait()
        return super().write(text)


def _logger(handler: logging.Handler) -> logging.Logger:
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test.logsink.{id(handler)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def test_logging_to_a_blocked_stream_returns_at_once_and_drops_beyond_the_bound() -> None:
    stream = StalledStream()
    handler = BackgroundStreamHandler(stream, max_queued=3)
    logger = _logger(handler)
    started = time.monotonic()
    for n in range(20):
        logger.info("line %d", n)
    assert time.monotonic() - started < 5.0  # a bound on correctness: nothing waited
    assert handler.dropped > 0  # the queue holds three lines, the stalled writer a few more

    stream.released.set()
    handler.flush()  # what was queued is written
    logger.info("after")  # with room again: first the count of what was dropped
    handler.flush()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "INFO line 0"
    assert lines[-2].startswith("WARNING ") and lines[-2].endswith(
        " log records dropped: the log stream was not being read"
    )
    assert int(lines[-2].split()[1]) == 20 - (len(lines) - 2)  # every line written or counted
    assert lines[-1] == "INFO after"
    handler.close()


def test_lines_are_formatted_by_the_caller_and_written_in_order() -> None:
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    logger = _logger(handler)
    for n in range(100):
        logger.warning("line %d", n)
    handler.flush()
    assert stream.getvalue().splitlines() == [f"WARNING line {n}" for n in range(100)]
    assert handler.dropped == 0
    handler.close()
