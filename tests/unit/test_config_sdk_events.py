"""``serve --sdk-events`` / ``SHIM_SDK_EVENTS``: how SDK events are read."""

from __future__ import annotations

import argparse

import pytest

from shim.config import ConfigError, settings_from
from shim.serve_flags import add_serve_arguments

pytestmark = pytest.mark.unit


def _settings(argv: list[str], environ: dict[str, str] | None = None) -> str:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return settings_from(parser.parse_args(argv), environ or {}).sdk_events


def test_sdk_events_default_to_auto() -> None:
    assert _settings([]) == "auto"


def test_the_flag_wins_over_the_environment() -> None:
    assert _settings(["--sdk-events", "public"], {"SHIM_SDK_EVENTS": "fast"}) == "public"
    assert _settings([], {"SHIM_SDK_EVENTS": "fast"}) == "fast"


def test_the_unverified_fast_path_is_an_explicit_choice() -> None:
    assert _settings(["--sdk-events", "fast-unverified"]) == "fast-unverified"


def test_an_unknown_sdk_events_value_is_a_clear_error() -> None:
    with pytest.raises(
        ConfigError, match="--sdk-events: choose auto, fast, fast-unverified or public"
    ):
        _settings(["--sdk-events", "native"])
