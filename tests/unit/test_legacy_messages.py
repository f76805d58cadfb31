"""Result messages (RS1–RS4, RS6, RS7) and their JSON Schema contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim.legacy.messages import ResultNumbering, Timing, encode_result

pytestmark = pytest.mark.unit

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "contracts" / "legacy-result.schema.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def valid(message: str | dict[str, Any]) -> bool:
    return bool(VALIDATOR.is_valid(json.loads(message) if isinstance(message, str) else message))


# -- numbering (RS3, RS4) -------------------------------------------------------------------


def test_finals_count_from_zero_per_session_RS3() -> None:
    numbering = ResultNumbering()
    assert [numbering.final_id() for _ in range(3)] == ["0", "1", "2"]
    assert ResultNumbering().final_id() == "0"


def test_partials_carry_the_coming_final_id_and_increase_within_it_RS4() -> None:
    numbering = ResultNumbering()
    ids = [numbering.partial_id(), numbering.partial_id(), numbering.final_id()]
    ids += [numbering.partial_id(), numbering.final_id(), numbering.final_id()]
    ids += [numbering.partial_id()]
    assert ids == ["0.1", "0.2", "0", "1.1", "1", "2", "3.1"]


def test_next_final_tells_which_final_comes_RS4() -> None:
    numbering = ResultNumbering()
    numbering.partial_id()
    assert numbering.next_final == 0
    numbering.final_id()
    assert numbering.next_final == 1


# -- timing (RS7) ---------------------------------------------------------------------------


def test_timing_snaps_ticks_to_whole_samples_RS7() -> None:
    # whatstheweatherlike.wav: the SDK reports offset 0.1 s, duration 1.29 s
    timing = Timing.from_ticks(1_000_000, 12_900_000)
    assert timing == Timing(
        audio_stream_position=3_200,
        audio_size_bytes=41_280,
        audio_time_offset=1_000_000,
        audio_time_size=12_900_000,
    )


@pytest.mark.parametrize(
    ("offset", "duration", "expected"),
    [
        (312, 0, (0, 0, 0, 0)),  # under half a sample rounds down
        (313, 0, (2, 0, 625, 0)),  # over half a sample rounds up
        (0, 313, (0, 2, 0, 625)),
        (-5_000, 10_000, (0, 16, 0, 5_000)),  # clamped at the start of the stream
        (1_000, -700, (4, 0, 1_250, 0)),  # a negative duration is empty
    ],
)
def test_timing_rounds_to_the_nearest_sample_RS7(
    offset: int, duration: int, expected: tuple[int, int, int, int]
) -> None:
    timing = Timing.from_ticks(offset, duration)
    assert (
        timing.audio_stream_position,
        timing.audio_size_bytes,
        timing.audio_time_offset,
        timing.audio_time_size,
    ) == expected


def test_timing_end_is_snapped_so_offset_plus_size_stays_put_RS7() -> None:
    # start 1.4 samples → 1, end 2.6 samples → 3: size 2 samples, not round(1.2) = 1
    timing = Timing.from_ticks(875, 750)
    assert (timing.audio_time_offset, timing.audio_time_size) == (625, 1_250)


@given(offset=st.integers(0, 10**12), duration=st.integers(0, 10**10))
def test_timing_bytes_and_ticks_are_always_exactly_consistent_RS7(
    offset: int, duration: int
) -> None:
    timing = Timing.from_ticks(offset, duration)
    assert timing.audio_stream_position * 10**7 == timing.audio_time_offset * 32_000
    assert timing.audio_size_bytes * 10**7 == timing.audio_time_size * 32_000
    assert abs(timing.audio_time_offset - offset) <= 312
    assert abs(timing.audio_time_offset + timing.audio_time_size - (offset + duration)) <= 312


@pytest.mark.parametrize(
    "fields",
    [(3_201, 0, 1_000_000, 0), (3_200, 0, 1_000_001, 0), (0, 2, 0, 0), (-2, 0, -625, 0)],
)
def test_inconsistent_timing_cannot_be_built_RS7(fields: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        Timing(*fields)


# -- encoding (RS1, RS2, RS6, RS7) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "message_id", "recognition", "translation", "recorded"),
    [
        (
            "partial",
            "0.5",
            "このプログラムは。",
            "This program.",
            '{"type":"partial","id":"0.5","recognition":"このプログラムは。",'
            '"translation":"This program."}',
        ),
        (
            "final",
            "0",
            "このプログラムは、リアルタイム翻訳アプリケーションです。",
            "This program is a real-time translation application.",
            '{"type":"final","id":"0","recognition":"このプログラムは、リアルタイム翻訳'
            'アプリケーションです。","translation":"This program is a real-time translation '
            'application."}',
        ),
        (
            "final",
            "0",
            "Hello, can you hear me now?",
            "Hallo, kannst du mich jetzt hören?",
            '{"type":"final","id":"0","recognition":"Hello, can you hear me now?",'
            '"translation":"Hallo, kannst du mich jetzt hören?"}',
        ),
    ],
)
def test_results_match_the_recorded_service_output_byte_for_byte_RS1(
    kind: str, message_id: str, recognition: str, translation: str, recorded: str
) -> None:
    assert encode_result(kind, message_id, recognition, translation) == recorded  # type: ignore[arg-type]


def test_timing_fields_follow_in_the_documented_order_RS7() -> None:
    message = encode_result(
        "final",
        "23",
        "what was said",
        "was gesagt wurde",
        Timing.from_ticks(2_731_600_000, 21_900_000),
    )
    assert message == (
        '{"type":"final","id":"23","recognition":"what was said","translation":"was gesagt wurde",'
        '"audioStreamPosition":8741120,"audioSizeBytes":70080,'
        '"audioTimeOffset":2731600000,"audioTimeSize":21900000}'
    )


def test_timing_fields_are_json_integers_RS7() -> None:
    decoded = json.loads(encode_result("partial", "23.2", "a", "b", Timing.from_ticks(625, 625)))
    timing_keys = ["audioStreamPosition", "audioSizeBytes", "audioTimeOffset", "audioTimeSize"]
    assert all(type(decoded[key]) is int for key in timing_keys)


def test_without_timing_the_timing_fields_are_absent_RS7() -> None:
    assert list(json.loads(encode_result("final", "1", "a", "b"))) == [
        "type",
        "id",
        "recognition",
        "translation",
    ]


def test_false_recognition_gives_a_final_with_empty_strings_RS6() -> None:
    assert encode_result("final", "4", "", "") == (
        '{"type":"final","id":"4","recognition":"","translation":""}'
    )


def test_text_with_quotes_newlines_and_controls_round_trips_RS1() -> None:
    text = 'He said "hi"\n\tand \\left\x00 \u2028 😀'
    message = encode_result("final", "0", text, text)
    assert "\n" not in message
    assert json.loads(message)["recognition"] == text


@pytest.mark.parametrize("kind", ["error", "status", "FINAL", "hypothesis"])
def test_only_partial_and_final_types_exist_RS2(kind: str) -> None:
    with pytest.raises(ValueError):
        encode_result(kind, "0", "a", "b")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "message_id"),
    [("final", "0.1"), ("partial", "0"), ("final", ""), ("partial", "1."), ("final", "٣")],
)
def test_id_must_fit_its_type_RS3_RS4(kind: str, message_id: str) -> None:
    with pytest.raises(ValueError):
        encode_result(kind, message_id, "a", "b")  # type: ignore[arg-type]


# -- the contract ---------------------------------------------------------------------------


def test_the_result_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@given(
    kind=st.sampled_from(["partial", "final"]),
    final=st.integers(0, 10**6),
    partial=st.integers(0, 10**6),
    recognition=st.text(),
    translation=st.text(),
    timing=st.none() | st.builds(Timing.from_ticks, st.integers(0, 10**12), st.integers(0, 10**9)),
)
def test_encoded_results_satisfy_the_contract_RS1_RS7(
    kind: str, final: int, partial: int, recognition: str, translation: str, timing: Timing | None
) -> None:
    message_id = f"{final}.{partial}" if kind == "partial" else str(final)
    assert valid(encode_result(kind, message_id, recognition, translation, timing))  # type: ignore[arg-type]


BASE_FINAL: dict[str, Any] = {"type": "final", "id": "0", "recognition": "", "translation": ""}
TIMING: dict[str, Any] = {
    "audioStreamPosition": 2,
    "audioSizeBytes": 4,
    "audioTimeOffset": 625,
    "audioTimeSize": 1_250,
}


@pytest.mark.parametrize(
    "message",
    [
        {**BASE_FINAL, "type": "error"},
        {**BASE_FINAL, "id": "0.1"},
        {**BASE_FINAL, "type": "partial"},
        {**BASE_FINAL, "id": 0},
        {**BASE_FINAL, "extra": 1},
        {k: v for k, v in BASE_FINAL.items() if k != "translation"},
        {**BASE_FINAL, "audioTimeOffset": 625, "audioTimeSize": 625},
        {**BASE_FINAL, **TIMING, "audioTimeOffset": "625"},
        {**BASE_FINAL, **TIMING, "audioTimeOffset": 626},
        {**BASE_FINAL, **TIMING, "audioSizeBytes": 3},
        {**BASE_FINAL, **TIMING, "audioSizeBytes": -2},
    ],
    ids=[
        "other-type",
        "final-with-partial-id",
        "partial-with-final-id",
        "numeric-id",
        "extra-field",
        "missing-translation",
        "half-the-timing",
        "string-ticks",
        "ticks-off-sample",
        "odd-bytes",
        "negative-bytes",
    ],
)
def test_the_contract_rejects_what_legacy_clients_cannot_take_RS2_RS7(
    message: dict[str, Any],
) -> None:
    assert not valid(message)


@pytest.mark.parametrize(
    "message",
    [
        BASE_FINAL,
        {**BASE_FINAL, **TIMING},
        {**BASE_FINAL, "type": "partial", "id": "0.11"},
        {**BASE_FINAL, **TIMING, "type": "partial", "id": "0.11"},
    ],
)
def test_the_contract_accepts_all_four_shapes_RS1(message: dict[str, Any]) -> None:
    assert valid(message)
