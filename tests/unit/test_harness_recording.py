"""Session recordings: what a line holds, secrets kept out, read back exactly; replay plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.frames import Opcode

from shim.harness.checks import schemas
from shim.harness.recordings.messages import assemble, utterances
from shim.harness.recordings.recording import (
    HEAD_BYTES,
    RecordingError,
    read_lines,
    read_recording,
    write_recording,
)
from shim.harness.recordings.replay import (
    ReplayError,
    client_steps,
    plan_replay,
    recorded_ending,
    replay_headers,
    replay_url,
)
from shim.harness.session.profiles import Finish
from shim.harness.session.request import Credential
from tests.support.legacy_sessions import audio, close, good_frames, session, tts, url, wav

pytestmark = pytest.mark.unit


def test_lines_follow_the_schema_and_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    write_recording(session(good_frames()), path)
    text = path.read_text()
    assert "secret-key" not in text
    lines = read_lines(path)
    assert [doc["record"] for _, doc in lines][:1] == ["header"] and lines[-1][1][
        "record"
    ] == "close"
    for number, document in lines:
        assert schemas.problems(schemas.RECORDING, document) == [], (number, document)
    header = lines[0][1]
    assert header["request"]["url"].endswith("subscription-key=***")
    assert ["Ocp-Apim-Subscription-Key", "***"] in header["request"]["headers"]


def test_the_schema_rejects_an_unredacted_key() -> None:
    header = {
        "record": "header", "format": "translator-speech-shim/session-recording", "version": 1,
        "created": "2024-01-01T00:00:00Z", "audio_kept": {"client": True, "server": False},
        "request": {"method": "GET", "url": url(), "headers": []}, "response": None,
    }  # fmt: skip
    assert schemas.problems(schemas.RECORDING, header)
    header["request"]["url"] = url().replace("secret-key", "***")  # type: ignore[index]
    assert schemas.problems(schemas.RECORDING, header) == []


def test_reading_back_gives_the_same_frames_payloads_and_message_summaries(
    tmp_path: Path,
) -> None:
    recording = session(good_frames())
    path = tmp_path / "s.jsonl"
    write_recording(recording, path)
    again = read_recording(path)
    assert [f.to_json() for f in again.frames] == [f.to_json() for f in recording.frames]
    client = [f for f in again.frames if f.direction == "out" and f.opcode is Opcode.BINARY]
    assert client[0].payload == audio()[0][3]  # client audio kept by default
    messages, errors = assemble(again.frames, "in")
    speech = [m for m in messages if m.opcode is Opcode.BINARY]
    assert errors == [] and len(speech) == 2
    assert speech[0].data is None and speech[0].head == wav()[:HEAD_BYTES]  # TTS hashed only
    assert speech[0].sha256 is not None and speech[0].size == len(wav())
    assert [u.final.recognition for u in utterances(again)] == ["Hello world.", "Turn on the lamp."]


def test_heads_span_frames_smaller_than_the_header() -> None:
    frames = [*audio(), *tts(wav(), pieces=20), close("out"), close("in")]
    messages, _ = assemble(session(frames).frames, "in")
    assert messages[0].head == wav()[:HEAD_BYTES] and len(messages[0].frames) == 20


def test_text_split_inside_a_character_is_kept_as_bytes(tmp_path: Path) -> None:
    text = '{"type":"final","id":"0","recognition":"Grüße","translation":"x"}'.encode()
    cut = text.index("ü".encode()) + 1
    frames = [("in", Opcode.TEXT, False, text[:cut]), ("in", Opcode.CONT, True, text[cut:])]
    path = tmp_path / "s.jsonl"
    write_recording(session(frames), path)
    messages, _ = assemble(read_recording(path).frames, "in")
    assert messages[0].text == text.decode()


def test_unreadable_files_raise_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("not json\n")
    with pytest.raises(RecordingError, match="not JSON"):
        read_recording(path)
    path.write_text(json.dumps({"record": "frame"}) + "\n")
    with pytest.raises(RecordingError, match="header"):
        read_recording(path)


def test_replay_plan_keeps_query_pacing_and_ending_with_new_credentials() -> None:
    frames = [*audio(), ("out", Opcode.BINARY, False, b"ab"), ("out", Opcode.CONT, True, b"cd")]
    recording = session([*frames, *good_frames()[2:]], session_url=url() + "&X-ClientTraceId=t1")
    steps = client_steps(recording)
    assert [(s.frame.opcode, s.frame.fin, bytes(s.frame.data)) for s in steps] == [
        (Opcode.BINARY, True, audio()[0][3]),
        (Opcode.BINARY, True, audio()[1][3]),
        (Opcode.BINARY, False, b"ab"),
        (Opcode.CONT, True, b"cd"),
    ]
    assert all(abs(s.delay - 0.01) < 1e-6 for s in steps[1:])
    new = replay_url(
        recording.url, "https://staging.example:8443", Credential("key", "k2"), "query"
    )
    assert new.startswith("wss://staging.example:8443/speech/translate?api-version=1.0&from=en-US")
    assert "X-ClientTraceId=t1" in new and new.endswith("subscription-key=k2")
    assert ("Host", "127.0.0.1:5000") not in replay_headers(recording, None, "query")
    ending = recorded_ending(recording)
    assert ending.finish is Finish.AFTER_RESULTS and ending.results_before_close == 4
    assert ending.expected_close_codes == frozenset({1000})
    plan = plan_replay(recording, "ws://other:1", Credential("key", "k3"))
    assert plan.url.endswith("subscription-key=k3") and plan.expect_results


def test_a_server_that_closed_first_is_waited_for_and_hashed_audio_cannot_be_replayed() -> None:
    recording = session([*audio(), close("in", 1003), close("out", 1003)], close_code=1003)
    ending = recorded_ending(recording)
    assert ending.expected_close_codes == frozenset({1003})
    assert ending.results_before_close > 10**6
    for frame in recording.frames:
        frame.data = None
    with pytest.raises(ReplayError, match="no client audio"):
        client_steps(recording)
