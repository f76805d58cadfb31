"""Which way the bridge reads the recognizer's events: ``fast`` (native) or ``public``.

``fast`` (``native_events``) reads only the fields the legacy protocol needs through the
SDK's native library; it relies on C signatures and private parts of the pinned SDK, so
``auto`` takes it only when the installed SDK is that version and exports every function
it needs. Anything else gets ``public`` (``public_events``), the SDK's documented API. An
operator can force either (``serve --sdk-events``); ``fast`` on another SDK version is
allowed but logged as unverified, and ``fast`` without the symbols falls back to
``public``. The choice is made and logged once per process.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shim.speech.events import BridgeEvent

log = logging.getLogger("shim.speech")

PINNED_SDK_VERSION = "1.53.0"  # pyproject.toml pins azure-cognitiveservices-speech to it
CHOICES = ("auto", "fast", "public")


class Subscription(Protocol):
    def disconnect(self) -> None:
        """Stop delivering this recognizer's events (usp-speech-service.md §10 step 4)."""


class Connect(Protocol):
    def __call__(
        self,
        recognizer: Any,
        *,
        target: str,
        partials: bool,
        deliver: Callable[[BridgeEvent], None],
        label: str,
    ) -> Subscription: ...


class PathName(enum.Enum):
    FAST = "fast"
    PUBLIC = "public"


@dataclass(frozen=True)
class EventPath:
    name: PathName
    connect: Connect
    reason: str  # why this path: shown in the start-up log line

    def describe(self) -> str:
        return f"SDK events: {self.name.value} path ({self.reason})"


@dataclass(frozen=True)
class Decision:
    name: PathName
    reason: str


def decide(requested: str, sdk_version: str, missing: Sequence[str]) -> Decision:
    """The path for ``requested`` given the installed SDK's version and missing symbols."""
    if requested not in CHOICES:
        raise ValueError(f"--sdk-events {requested!r}: choose {', '.join(CHOICES)}")
    if requested == "public":
        return Decision(PathName.PUBLIC, "requested")
    if missing:
        shown = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        return Decision(
            PathName.PUBLIC,
            f"{'fast requested, but ' if requested == 'fast' else ''}the SDK's native library"
            f" lacks {shown}",
        )
    if sdk_version != PINNED_SDK_VERSION:
        if requested == "fast":
            return Decision(
                PathName.FAST,
                f"requested; SDK {sdk_version} is not the pinned {PINNED_SDK_VERSION}: unverified",
            )
        return Decision(
            PathName.PUBLIC,
            f"SDK {sdk_version} is not the pinned {PINNED_SDK_VERSION}",
        )
    return Decision(
        PathName.FAST,
        f"{'requested' if requested == 'fast' else 'auto'}; SDK {sdk_version} as pinned",
    )


def installed_sdk() -> tuple[str, list[str]]:
    """The installed SDK's version and the native functions or private parts it lacks."""
    import azure.cognitiveservices.speech as speechsdk

    version = str(getattr(speechsdk, "__version__", "unknown"))
    try:
        from shim.speech import native_events

        missing = native_events.missing_symbols()
    except (ImportError, AttributeError, OSError) as exc:
        return version, [f"a usable native library ({exc})"]
    if not hasattr(speechsdk.translation.TranslationRecognizer, "_handle"):
        missing.append("Recognizer._handle")
    return version, missing


def choose_event_path(requested: str = "auto") -> EventPath:
    """Decide for the installed SDK; raises ValueError for an unknown ``requested``."""
    version, missing = installed_sdk() if requested != "public" else ("", [])
    decision = decide(requested, version, missing)
    if decision.name is PathName.FAST:
        from shim.speech import native_events

        return EventPath(decision.name, native_events.connect, decision.reason)
    from shim.speech import public_events

    return EventPath(decision.name, public_events.connect, decision.reason)


_process_path: EventPath | None = None
_process_lock = threading.Lock()


def use_event_path(requested: str) -> EventPath:
    """Choose the process's path at start-up (``serve --sdk-events``) and log it once."""
    global _process_path
    path = choose_event_path(requested)
    with _process_lock:
        if _process_path is None or _process_path != path:
            log.info("%s", path.describe())
        _process_path = path
    return path


def default_event_path() -> EventPath:
    """The process's path; ``auto`` (logged once) if start-up did not choose one."""
    global _process_path
    with _process_lock:
        if _process_path is None:
            _process_path = choose_event_path("auto")
            log.info("%s", _process_path.describe())
        return _process_path
