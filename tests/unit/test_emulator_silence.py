"""The service's silence timeouts as a table: which turn ends on silence, and where."""

from __future__ import annotations

import pytest

from shim.emulator.silence import SilenceTimeouts, TurnSilence, whole_ms

pytestmark = pytest.mark.unit

S = 10_000_000  # ticks per second


def test_continuous_turns_wait_15_s_for_speech_and_20_s_after_it() -> None:
    turn = SilenceTimeouts().for_turn(False, None, None)
    assert turn == TurnSilence(15_000, 20_000)
    assert turn.due(0, 15 * S - 1, heard=False) is None
    assert turn.due(0, 15 * S, heard=False) == (0, 15 * S)
    assert turn.due(3 * S, 22 * S, heard=True) is None
    assert turn.due(3 * S, 23 * S, heard=True) == (3 * S, 20 * S)


def test_once_mode_has_only_the_initial_timeout() -> None:
    turn = SilenceTimeouts().for_turn(True, None, None)
    assert turn.due(0, 5 * S, heard=False) == (0, 5 * S)
    assert turn.due(0, 60 * S, heard=True) is None  # its phrase ends the turn


def test_the_clients_timeouts_win() -> None:
    assert SilenceTimeouts().for_turn(False, 4_000, 2_000) == TurnSilence(4_000, 2_000)
    assert SilenceTimeouts().for_turn(True, 3_000, 2_000) == TurnSilence(3_000, None)
    assert SilenceTimeouts(conversation_end_ms=9_000).for_turn(False, None, None).end_ms == 9_000


def test_the_phrase_covers_exactly_the_timeout_from_a_whole_millisecond() -> None:
    """However the client cut its audio, turns end at the same places; the SDKs count
    acknowledged audio in whole milliseconds."""
    turn = TurnSilence(15_000, 20_000)
    start = 12_345_678  # 1.2345678 s: a phrase that ended mid-millisecond
    assert whole_ms(start) == 12_350_000
    assert turn.due(start, 30 * S, heard=True) == (12_350_000, 20 * S)
    assert turn.due(start, 12_350_000 + 20 * S - 1, heard=True) is None
