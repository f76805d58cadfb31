"""Choosing how the bridge reads SDK events: the native fast path only where it is safe."""

from __future__ import annotations

import ctypes.util

import pytest

from shim.speech import native_events
from shim.speech.event_path import PINNED_SDK_VERSION, PathName
from shim.speech.path_choice import (
    UNVERIFIED,
    EventPathRefused,
    choose_event_path,
    decide,
)

pytestmark = pytest.mark.unit


def test_auto_takes_the_fast_path_on_the_pinned_sdk_with_every_symbol() -> None:
    decision = decide("auto", PINNED_SDK_VERSION, [])
    assert decision.name is PathName.FAST
    assert PINNED_SDK_VERSION in decision.reason


def test_auto_falls_back_to_public_on_another_sdk_version_and_says_why() -> None:
    decision = decide("auto", "1.54.0", [])
    assert decision.name is PathName.PUBLIC
    assert "1.54.0" in decision.reason and PINNED_SDK_VERSION in decision.reason


def test_auto_falls_back_to_public_when_a_native_symbol_is_missing_and_names_it() -> None:
    decision = decide("auto", PINNED_SDK_VERSION, ["translation_text_result_get_translation"])
    assert decision.name is PathName.PUBLIC
    assert "translation_text_result_get_translation" in decision.reason


def test_forced_fast_on_another_version_refuses_to_start_and_names_the_opt_in() -> None:
    with pytest.raises(EventPathRefused, match=f"1.54.0 is not the pinned.*{UNVERIFIED}"):
        decide("fast", "1.54.0", [])


def test_forced_fast_on_another_version_refuses_through_the_choice_too() -> None:
    with pytest.raises(EventPathRefused):
        choose_event_path("fast", installed=("1.54.0", []))


def test_the_unverified_opt_in_runs_the_fast_path_on_another_version_and_says_so() -> None:
    decision = decide(UNVERIFIED, "1.54.0", [])
    assert decision.name is PathName.FAST
    assert UNVERIFIED in decision.reason and "1.54.0" in decision.reason


def test_the_unverified_opt_in_on_the_pinned_version_is_plain_fast() -> None:
    assert decide(UNVERIFIED, PINNED_SDK_VERSION, []).name is PathName.FAST


def test_the_unverified_opt_in_without_the_symbols_still_falls_back_to_public() -> None:
    decision = decide(UNVERIFIED, "1.54.0", ["result_get_text"])
    assert decision.name is PathName.PUBLIC and "result_get_text" in decision.reason


def test_forced_fast_without_the_symbols_still_falls_back_to_public() -> None:
    decision = decide("fast", PINNED_SDK_VERSION, ["result_get_text"])
    assert decision.name is PathName.PUBLIC
    assert "fast requested" in decision.reason and "result_get_text" in decision.reason


def test_public_is_always_public() -> None:
    assert decide("public", PINNED_SDK_VERSION, []).name is PathName.PUBLIC


def test_an_unknown_choice_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=f"auto, fast, {UNVERIFIED}, public"):
        decide("quick", PINNED_SDK_VERSION, [])


def test_the_installed_pinned_sdk_exports_every_native_function_the_fast_path_uses() -> None:
    assert native_events.missing_symbols() == []
    assert choose_event_path("auto").name is PathName.FAST


def test_a_library_without_the_sdk_functions_reports_them_all_missing() -> None:
    libc = ctypes.util.find_library("c")
    assert libc is not None
    assert native_events.missing_symbols(libc) == list(native_events.REQUIRED_SYMBOLS)
