"""The results sequencer: legacy result ordering (RS*, TS1), without sockets or the SDK."""

from __future__ import annotations

import json

import pytest

from shim.legacy.sequencer import ResultSequencer
from shim.legacy.tts import wav_header
from shim.legacy.vocabulary import SendResult, SendTts
from tests.support.legacy_requests import legacy_request, sdk_wav

pytestmark = pytest.mark.unit


def session(features: str, to: str = "de") -> ResultSequencer:
    return ResultSequencer(legacy_request(features, to))


def texts(out: list[object]) -> list[dict[str, object]]:
    return [json.loads(o.text) for o in out if isinstance(o, SendResult)]


def sdk_chunk(samples: int) -> bytes:
    return sdk_wav(samples)


def test_partials_only_with_the_partial_feature_RS5() -> None:
    assert session("").recognizing("hel", "hal", 0, 10) == []
    out = session("partial").recognizing("hel", "hal", 0, 10)
    assert texts(out) == [
        {"type": "partial", "id": "0.1", "recognition": "hel", "translation": "hal"}
    ]


def test_ids_count_per_session_and_partials_name_the_coming_final_RS3_RS4() -> None:
    s = session("partial")
    out = s.recognizing("a", "b", 0, 1) + s.recognizing("a c", "b d", 0, 2)
    out += s.recognized(True, "A c.", "B d.", 0, 3) + s.recognizing("x", "y", 5, 1)
    out += s.recognized(True, "X.", "Y.", 5, 2)
    assert [(m["type"], m["id"]) for m in texts(out)] == [
        ("partial", "0.1"),
        ("partial", "0.2"),
        ("final", "0"),
        ("partial", "1.1"),
        ("final", "1"),
    ]


def test_tts_follows_its_final_before_anything_about_the_next_utterance_TS1() -> None:
    s = session("partial,texttospeech")
    out = s.recognized(True, "Hello.", "Hallo.", 0, 10)
    assert s.awaiting_tts
    out += s.synthesis_audio(sdk_chunk(800)) + s.recognizing("next", "nächste", 20, 5)
    out += s.synthesis_audio(sdk_chunk(800))
    out += s.synthesis_completed()
    kinds = [type(o).__name__ for o in out]
    assert kinds == ["SendResult", "SendTts", "SendResult"]
    tts = out[1]
    assert isinstance(tts, SendTts) and tts.final_id == "0"
    assert tts.wav[:4] == b"RIFF" and len(tts.wav) == 46 + 3200
    assert tts.wav[:46] == wav_header(3200)


def test_no_match_gives_an_empty_final_and_an_empty_audio_file_RS6_TS1() -> None:
    s = session("texttospeech")
    out = s.recognized(False, "", "", 0, 10)
    assert texts(out) == [{"type": "final", "id": "0", "recognition": "", "translation": ""}]
    assert isinstance(out[1], SendTts) and len(out[1].wav) == 46
    assert not s.awaiting_tts


def test_same_language_translation_repeats_the_recognition_RS8() -> None:
    out = session("", to="en").recognized(True, "Hello world", "[en] Hello world", 0, 10)
    assert texts(out)[0]["translation"] == "Hello world"


def test_timing_fields_only_with_timinginfo_and_consistent_RS7() -> None:
    assert "audioTimeOffset" not in texts(session("").recognized(True, "a", "b", 0, 1))[0]
    message = texts(session("timinginfo").recognized(True, "a", "b", 10_000_000, 5_000_000))[0]
    assert message["audioTimeOffset"] == 10_000_000 and message["audioStreamPosition"] == 32_000
    assert message["audioTimeSize"] == 5_000_000 and message["audioSizeBytes"] == 16_000


def test_release_sends_pending_audio_and_held_results() -> None:
    s = session("partial,texttospeech")
    s.recognized(True, "One.", "Eins.", 0, 10)
    s.synthesis_audio(sdk_chunk(160))
    held = s.recognized(True, "Two.", "Zwei.", 20, 10)
    assert held == []
    out = s.release()
    assert [type(o).__name__ for o in out] == ["SendTts", "SendResult", "SendTts"]
    assert texts(out)[0]["id"] == "1"
