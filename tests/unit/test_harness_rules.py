"""The protocol rules of ``validate``: each one passes a correct session and catches its
own breach, naming the frame that broke it."""

from __future__ import annotations

import json

import pytest
from websockets.frames import Opcode

from shim.harness.checks.rule_base import RuleResult
from shim.harness.checks.rules import check_recording
from shim.harness.recordings.recording import Recording
from tests.support.legacy_sessions import (
    audio,
    close,
    good_frames,
    result,
    session,
    timing,
    tts,
    url,
    utterance,
    wav,
)

pytestmark = pytest.mark.unit


def verdicts(recording: Recording) -> dict[str, RuleResult]:
    return {r.rule: r for r in check_recording(recording)}


def failing(recording: Recording) -> set[str]:
    return {rule for rule, r in verdicts(recording).items() if r.status == "fail"}


def test_a_correct_session_passes_every_applicable_rule() -> None:
    results = verdicts(session(good_frames()))
    assert {r for r, v in results.items() if v.status == "fail"} == set()
    assert {r for r, v in results.items() if v.status == "pass"} >= {
        "RC1", "HS1", "HS2", "CT1", "RS1", "RS2", "RS3", "RS4", "RS6", "RS7", "TS1", "TS2",
        "TS3", "ER1", "ER3",
    }  # fmt: skip
    assert results["TS4"].status == "n/a" and results["TS4"].note


def _with(
    *frames: tuple[str, Opcode, bool, bytes], features: str = "partial,texttospeech"
) -> Recording:
    return session([*audio(), *frames, close("out"), close("in")], session_url=url(features))


FINAL = result("final", "0", "a", "b")
SPLIT = [
    ("in", Opcode.TEXT, False, b'{"type":"final",'),
    ("in", Opcode.CONT, True, b'"id":"0","recognition":"","translation":""}'),
]
SPACED = (
    "in",
    Opcode.TEXT,
    True,
    b'{"type": "final", "id": "0", "recognition": "", "translation": ""}',
)
NO_TRANSLATION = ("in", Opcode.TEXT, True, b'{"type":"final","id":"0","recognition":"a"}')
BREACHES = {
    "fragmented-result": ([*SPLIT, *tts()], "RS1"),
    "whitespace-json": ([SPACED, *tts()], "RS1"),
    "other-type": ([FINAL, *tts(), result("status", "1", "a", "b")], "RS2"),
    "final-not-0": ([result("final", "1", "a", "b"), *tts()], "RS3"),
    "partial-of-wrong-final": ([result("partial", "1.1", "a", "b"), FINAL, *tts()], "RS4"),
    "partial-k-decreases": (
        [result("partial", "0.2", "a", "b"), result("partial", "0.1", "a", "b"), FINAL, *tts()],
        "RS4",
    ),
    "missing-translation": ([NO_TRANSLATION, *tts()], "RS6"),
    "timing-without-timinginfo": ([result("final", "0", "a", "b", **timing(100, 500))], "RS7"),
    "final-without-tts": ([FINAL, result("final", "1", "c", "d"), *tts()], "TS1"),
    "two-tts": ([FINAL, *tts(), *tts()], "TS1"),
    "single-frame-tts": ([FINAL, *tts(pieces=1)], "TS2"),
    "not-a-wav": ([FINAL, *tts(b"RIFF" + bytes(60))], "TS3"),
    "riff-size-wrong": ([FINAL, *tts(wav()[:-2])], "TS3"),
}


@pytest.mark.parametrize(("frames", "rule"), BREACHES.values(), ids=BREACHES.keys())
def test_each_breach_fails_its_rule(
    frames: list[tuple[str, Opcode, bool, bytes]], rule: str
) -> None:
    recording = _with(*frames)
    results = verdicts(recording)
    assert results[rule].status == "fail", results[rule]
    assert results[rule].findings[0].frame is not None
    assert results[rule].findings[0].where().startswith("#")


def test_partials_without_partial_fail_RS5_and_timing_is_checked_with_timinginfo() -> None:
    frames = [result("partial", "0.1", "a", "b"), result("final", "0", "a", "b"), *tts()]
    assert "RS5" in failing(_with(*frames, features="texttospeech"))
    bad_bytes = {**timing(100, 500), "audioSizeBytes": 999}
    assert "RS7" in failing(
        _with(
            result("final", "0", "a", "b", **bad_bytes), *tts(), features="texttospeech,timinginfo"
        )
    )
    overlap = [
        result("final", "0", "a", "b", **timing(100, 500)),
        *tts(),
        result("final", "1", "c", "d", **timing(400, 500)),
        *tts(),
    ]
    assert "RS7" in failing(_with(*overlap, features="texttospeech,timinginfo"))
    fine = [
        result("final", "0", "a", "b", **timing(100, 500)),
        *tts(),
        result("final", "1", "c", "d", **timing(600, 500)),
        *tts(),
    ]
    assert failing(_with(*fine, features="texttospeech,timinginfo")) == set()


def test_tts_without_texttospeech_and_mp3_format_are_checked() -> None:
    assert "TS1" in failing(_with(result("final", "0", "a", "b"), *tts(), features="partial"))
    mp3 = session(
        [
            *audio(),
            result("final", "0", "a", "b"),
            *tts(b"\xff\xfb\x90\x64" + bytes(400)),
            close("out"),
            close("in"),
        ],
        session_url=url(format="audio/mp3"),
    )
    results = verdicts(mp3)
    assert results["TS4"].status == "pass" and results["TS3"].status == "n/a"
    not_mp3 = session(
        [*audio(), result("final", "0", "a", "b"), *tts(wav()), close("out"), close("in")],
        session_url=url(format="audio/mp3"),
    )
    assert "TS4" in failing(not_mp3)


def test_same_language_translation_must_repeat_the_recognition_RS8() -> None:
    same = url().replace("to=de", "to=en")
    assert "RS8" in failing(
        session(
            [*audio(), result("final", "0", "Hi.", "Hallo."), *tts(), close("out"), close("in")],
            session_url=same,
        )
    )
    assert "RS8" not in failing(
        session(
            [*audio(), result("final", "0", "Hi.", "Hi."), *tts(), close("out"), close("in")],
            session_url=same,
        )
    )


def test_client_side_breaches_need_a_1003_close_AI1_AI6() -> None:
    text = [("out", Opcode.BINARY, True, wav()), ("out", Opcode.TEXT, True, b"{}")]
    assert verdicts(session([*text, close("in", 1003), close("out", 1003)]))["AI1"].status == "pass"
    assert "AI1" in failing(session([*text, close("in", 1000), close("out", 1000)]))
    raw = [("out", Opcode.BINARY, True, bytes(3200))]
    assert verdicts(session([*raw, close("in", 1003), close("out", 1003)]))["AI6"].status == "pass"
    assert "AI6" in failing(session([*raw, *utterance(0, "a b", "c d"), close("out"), close("in")]))


def test_handshake_rules_HS1_HS2_CT2_HS4() -> None:
    assert "HS2" in failing(session(good_frames(), response_headers=[]))
    assert "HS1" in failing(
        session(
            good_frames(),
            response_headers=[("X-RequestId", "r"), ("Sec-WebSocket-Protocol", "chat")],
        )
    )
    body = json.dumps({"error": {"code": 400036, "message": "The 'to' parameter is invalid."}})
    refused = verdicts(session([], status=400, body=body.encode()))
    assert refused["CT2"].status == "pass" and refused["HS4"].status == "pass"
    assert refused["HS2"].status == "n/a" and refused["ER3"].status == "n/a"
    assert failing(session([], status=400, body=b"Bad Request")) >= {"CT2", "HS4"}
    assert "HS4" in failing(
        session(
            [], status=400, body=json.dumps({"error": {"code": 400000, "message": "bad"}}).encode()
        )
    )


def test_close_rules_ER1_ER3_ER4() -> None:
    no_close = session([*audio(), *utterance(0, "a b", "c d")], close_code=1006)
    assert "ER3" in failing(no_close)
    odd = session([*audio(), *utterance(0, "a b", "c d"), close("in", 4000), close("out", 4000)])
    assert "ER3" in failing(odd)
    leaky = verdicts(
        session(
            [
                *audio(),
                close("in", 1011, "USP error wss://westeurope.stt.speech.microsoft.com"),
                close("out", 1011),
            ]
        )
    )
    assert leaky["ER4"].status == "warn" and leaky["ER3"].status == "pass"  # SHOULD: warns only
    pending = verdicts(
        session([*audio(), result("partial", "0.1", "a", "b"), close("out"), close("in")])
    )
    assert pending["ER1"].status == "warn"
    unanswered = verdicts(session([*audio(), close("out")], close_code=1006))
    assert unanswered["ER1"].status == "warn" and unanswered["ER3"].status == "fail"


def test_an_unfinished_recording_and_bad_frame_numbers_fail_RC1() -> None:
    recording = session(good_frames())
    recording.close = None
    assert "RC1" in failing(recording)
    recording = session(good_frames())
    recording.frames[2].n = 99
    assert "RC1" in failing(recording)
