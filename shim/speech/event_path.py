"""The contract of an event path: how the bridge has a recognizer's events read.

An event path connects the recognizer's signals (:data:`SIGNALS`) and delivers each as a
plain ``shim.speech.events`` value. Two implement it: ``native_events`` (``fast``: only the
fields the legacy protocol needs, through the SDK's native library) and ``public_events``
(``public``: the SDK's documented Python API). ``path_choice`` decides which one a process
uses; ``self_test`` checks the fast one before it is trusted.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shim.speech.events import BridgeEvent, Canceled

PINNED_SDK_VERSION = "1.53.0"  # pyproject.toml pins azure-cognitiveservices-speech to it

SIGNALS = ("recognizing", "recognized", "synthesizing", "canceled", "session_stopped")
"""The recognizer signals every path connects (``recognizing`` only with partials)."""

Deliver = Callable[[BridgeEvent], None]


def unreadable(signal: str) -> Canceled | None:
    """What the session hears in place of an SDK event that could not be read (None: it
    owed nothing). A lost final or cancellation must not let the session end 1000 as if
    nothing were missing: it fails the backend, and a pooled session moves and hears the
    audio after its last final again. A lost partial is only logged."""
    if signal == "recognizing":
        return None
    return Canceled("Error", "RuntimeError", f"the Speech SDK's {signal} event could not be read")


class Subscription(Protocol):
    def disconnect(self) -> None:
        """Stop delivering this recognizer's events (usp-speech-service.md §10 step 4)."""


@dataclass(frozen=True)
class Listener:
    """Who wants one recognizer's events, and which."""

    target: str  # the one translation read from each result
    deliver: Deliver  # gets each converted event, on an SDK thread; must not block
    label: str  # the session's request id, in log lines
    partials: bool = True  # connect ``recognizing`` too

    @property
    def signals(self) -> tuple[str, ...]:
        """The signals to connect: all of them, less ``recognizing`` without partials."""
        return tuple(s for s in SIGNALS if s != "recognizing" or self.partials)


Connect = Callable[[Any, Listener], Subscription]
"""Connect a recognizer's :attr:`Listener.signals` for the listener (each path's ``connect``)."""


class PathName(enum.Enum):
    FAST = "fast"
    PUBLIC = "public"


@dataclass(frozen=True)
class EventPath:
    name: PathName
    connect: Connect
    reason: str  # why this path: shown in the start-up log line

    @property
    def inline_writes(self) -> bool:
        """Whether the loop may write audio to the SDK itself: only when callbacks hold the
        GIL for microseconds (the fast path); the public path's callbacks hold it for
        milliseconds, so its writes go through the audio threads (``bridge``)."""
        return self.name is PathName.FAST

    def describe(self) -> str:
        return f"SDK events: {self.name.value} path ({self.reason})"
