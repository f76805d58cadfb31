"""The fast event path's self-test: the real SDK and native library against a loopback stub.

A fast path that fails its check (the library announces another version, its connect
fails, or no event arrives) is not used: the process falls back to the public path and logs
why. The failures are real: a version the loaded library does not announce, the native
library refusing a handle that is no recognizer's, a subscription that connects nothing.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest

from shim.speech import native_events, public_events, self_test
from shim.speech.event_path import PINNED_SDK_VERSION, Listener, PathName
from shim.speech.path_choice import UNVERIFIED, choose_event_path

pytestmark = pytest.mark.e2e


class _NoRecognizer:
    _handle = None  # the native library refuses it: SPXERR_INVALID_HANDLE


def test_both_event_paths_pass_the_self_test_on_the_pinned_sdk() -> None:
    assert self_test.run(native_events.connect) is None
    assert self_test.run(public_events.connect) is None


def test_the_self_test_fails_when_the_library_announces_another_version() -> None:
    failure = self_test.run(native_events.connect, expected_version="1.54.0")
    assert failure == f"the native library announces SDK {PINNED_SDK_VERSION}, not 1.54.0"


def test_the_self_test_fails_when_the_native_connect_fails() -> None:
    def connect_elsewhere(recognizer: Any, listener: Listener) -> Any:
        return native_events.connect(_NoRecognizer(), listener)

    failure = self_test.run(connect_elsewhere)
    assert failure is not None and failure.startswith("connecting failed")
    assert "SPXHR" in failure


def test_the_self_test_fails_when_no_event_arrives() -> None:
    def connect_nothing(recognizer: Any, listener: Listener) -> Any:
        return public_events.PublicSubscription(recognizer, ())

    assert self_test.run(connect_nothing, timeout=0.5) == "no event within 0.5 s"


@pytest.mark.parametrize("requested", ["auto", "fast", UNVERIFIED])
def test_a_fast_path_that_fails_its_self_test_falls_back_to_public_and_logs_why(
    requested: str, caplog: pytest.LogCaptureFixture
) -> None:
    check = functools.partial(self_test.run, expected_version="1.54.0")
    with caplog.at_level(logging.WARNING, logger="shim.speech"):
        path = choose_event_path(requested, check=check)
    assert path.name is PathName.PUBLIC and path.connect is public_events.connect
    assert not path.inline_writes
    assert "failed its self-test" in path.reason and "not 1.54.0" in path.reason
    assert [r.getMessage() for r in caplog.records] == [
        f"SDK events: the fast path failed its self-test: the native library announces SDK"
        f" {PINNED_SDK_VERSION}, not 1.54.0"
    ]


def test_a_fast_path_that_passes_its_self_test_is_used_with_inline_writes() -> None:
    path = choose_event_path("fast")
    assert path.name is PathName.FAST and path.connect is native_events.connect
    assert path.inline_writes
