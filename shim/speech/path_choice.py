"""Which event path a process uses: ``fast`` (native) or ``public``, decided once at start.

``fast`` (``native_events``) relies on C signatures and private parts of the pinned SDK, so
``auto`` takes it only when the installed SDK is that version, its native library exports
every function the path calls, and the path passes its self-test (``self_test``: one
recognizer against a loopback stub, about 15 ms). Anything else gets ``public``, the SDK's
documented API, and the start-up log line says why. An operator can force either
(``serve --sdk-events``): ``fast`` on another SDK version refuses to start, since a wrong C
signature can crash the process; ``fast-unverified`` is the explicit opt-in that runs it
anyway (the self-test still runs, less its version check). A forced fast path that lacks a
symbol or fails its self-test falls back to ``public``, logged.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shim.speech.event_path import PINNED_SDK_VERSION, Connect, EventPath, PathName

log = logging.getLogger("shim.speech")

UNVERIFIED = "fast-unverified"
CHOICES = ("auto", "fast", UNVERIFIED, "public")

SelfTest = Callable[[Connect], str | None]
"""Runs a path's connect once for real: None when it passed, otherwise why not."""


class EventPathRefused(ValueError):
    """A forced fast path the installed SDK is not verified for, without the opt-in."""


@dataclass(frozen=True)
class Decision:
    name: PathName
    reason: str


def decide(requested: str, sdk_version: str, missing: Sequence[str]) -> Decision:
    """The path for ``requested`` given the installed SDK's version and missing symbols;
    raises :class:`EventPathRefused` for ``fast`` on an SDK other than the pinned one."""
    if requested not in CHOICES:
        raise ValueError(f"--sdk-events {requested!r}: choose {', '.join(CHOICES)}")
    forced = requested in ("fast", UNVERIFIED)
    if requested == "public":
        return Decision(PathName.PUBLIC, "requested")
    if missing:
        shown = ", ".join(missing[:3]) + (" …" if len(missing) > 3 else "")
        return Decision(
            PathName.PUBLIC,
            f"{'fast requested, but ' if forced else ''}the SDK's native library lacks {shown}",
        )
    if sdk_version == PINNED_SDK_VERSION:
        return Decision(
            PathName.FAST, f"{'requested' if forced else 'auto'}; SDK {sdk_version} as pinned"
        )
    if requested == "fast":
        raise EventPathRefused(
            f"--sdk-events fast: SDK {sdk_version} is not the pinned {PINNED_SDK_VERSION}, whose"
            " C signatures the fast path declares (a wrong one crashes the process); choose"
            f" auto or public, or {UNVERIFIED} to run it anyway"
        )
    if requested == UNVERIFIED:
        return Decision(
            PathName.FAST,
            f"{UNVERIFIED} requested; SDK {sdk_version} is not the pinned {PINNED_SDK_VERSION}",
        )
    return Decision(PathName.PUBLIC, f"SDK {sdk_version} is not the pinned {PINNED_SDK_VERSION}")


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


def _self_test(requested: str) -> SelfTest:
    from shim.speech import self_test

    # the opt-in runs an unpinned library: its announced version is not checked
    expected = None if requested == UNVERIFIED else PINNED_SDK_VERSION
    return functools.partial(self_test.run, expected_version=expected)


def choose_event_path(
    requested: str = "auto",
    *,
    installed: tuple[str, list[str]] | None = None,
    check: SelfTest | None = None,
) -> EventPath:
    """Decide for the installed SDK (or ``installed``: its version and missing symbols) and,
    for ``fast``, run its self-test (or ``check``). Raises ValueError for an unknown
    ``requested``, :class:`EventPathRefused` for a forced fast path without the opt-in."""
    if installed is None:
        installed = installed_sdk() if requested != "public" else ("", [])
    decision = decide(requested, *installed)
    if decision.name is PathName.FAST:
        from shim.speech import native_events

        failure = (check or _self_test(requested))(native_events.connect)
        if failure is None:
            return EventPath(decision.name, native_events.connect, decision.reason)
        log.warning("SDK events: the fast path failed its self-test: %s", failure)
        decision = Decision(PathName.PUBLIC, f"the fast path failed its self-test: {failure}")
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
