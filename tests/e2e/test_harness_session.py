"""run_session against stand-in legacy endpoints on 127.0.0.1: streaming while receiving,
collecting results and TTS, and judging how the session ended."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.frames import Opcode

from shim.harness.session.client import TextResult, run_session
from shim.harness.session.profiles import PROFILES
from shim.harness.session.request import Credential, build_headers, build_url
from tests.support import legacy_fake
from tests.support.frame_server import FrameServer, Peer

pytestmark = pytest.mark.e2e

AUDIO = Path(__file__).resolve().parents[2].parent / "shared" / "audio"
LAMP = (AUDIO / "en-US_turn-on-the-lamp.wav").read_bytes()
KEY = Credential("key", legacy_fake.KEY)


def _url(base: str, features: str = "partial,texttospeech") -> str:
    return build_url(base, from_="en-US", to="es", features=features)


async def test_whole_file_collects_results_flushed_after_the_clients_close() -> None:
    behaviour = legacy_fake.Behaviour()
    async with legacy_fake.serve(behaviour) as base:
        outcome = await run_session(
            _url(base), build_headers(credential=KEY), LAMP, "whole-file", speed=0
        )
    assert outcome.ended_as_expected, outcome.problems
    assert [r.message for r in outcome.results] == [legacy_fake.PARTIAL, legacy_fake.FINAL]
    assert [(t.final_id, t.frames, t.data) for t in outcome.tts] == [
        ("0", 1, legacy_fake.tts_wav())
    ]
    assert outcome.request_id == "fake-request"
    assert (outcome.close_code, outcome.server_closed_first) == (1000, False)
    assert behaviour.sessions == [LAMP + bytes(3_200_000)]


async def test_the_key_may_travel_in_the_query() -> None:
    async with legacy_fake.serve(legacy_fake.Behaviour()) as base:
        url = build_url(base, from_="en-US", to="es", credential=KEY, credential_form="query")
        outcome = await run_session(url, [], LAMP, "whole-file", speed=0)
    assert outcome.ended_as_expected, outcome.problems
    assert "good-key" not in outcome.url  # redacted


async def test_handshake_refusal_is_reported_with_status_and_message() -> None:
    async with legacy_fake.serve(legacy_fake.Behaviour()) as base:
        outcome = await run_session(_url(base), [], LAMP, "realtime", speed=0)
    assert outcome.refused is not None and outcome.refused.status == 401
    assert not outcome.ended_as_expected
    assert outcome.problems == [
        "handshake refused: HTTP 401 Unauthorized: invalid subscription key"
    ]


async def test_a_missing_tts_and_an_unexpected_close_code_are_problems() -> None:
    behaviour = legacy_fake.Behaviour(tts=False, close_code=1011)
    async with legacy_fake.serve(behaviour) as base:
        outcome = await run_session(
            _url(base), build_headers(credential=KEY), LAMP, "burst", speed=0
        )
    assert outcome.problems == [
        "the session closed with 1011; expected 1000",
        "final '0' got no TTS message",
    ]


async def test_unfinished_closes_after_the_first_tts_without_finishing_its_message() -> None:
    behaviour = legacy_fake.Behaviour(send_on_connect=True)
    sent: list[tuple[str, Opcode, bool]] = []
    async with legacy_fake.serve(behaviour) as base:
        outcome = await run_session(
            _url(base),
            build_headers(credential=KEY),
            LAMP,
            "unfinished",
            speed=0,
            observer=lambda d, t, op, fin, data: sent.append((d, op, fin)) if d == "out" else None,
        )
    assert outcome.ended_as_expected, outcome.problems
    data_frames = [(op, fin) for _, op, fin in sent if op in (Opcode.BINARY, Opcode.CONT)]
    assert data_frames[0] == (Opcode.BINARY, False)
    assert not any(fin for _, fin in data_frames)
    assert sent[-1][1] is Opcode.CLOSE
    assert len(data_frames) == outcome.frames_sent


async def test_results_are_handled_while_the_client_is_still_streaming() -> None:
    async def answer_early(peer: Peer) -> None:
        await peer.receive_data_until(10_000)
        for message in (legacy_fake.PARTIAL, legacy_fake.FINAL):
            await peer.send(Opcode.TEXT, json.dumps(message).encode())
        await peer.send_fragmented(legacy_fake.tts_wav(), 1000)
        await peer.closed.wait()

    frames_sent_at_result: list[int] = []
    progress: list[int] = []

    def on_result(result: TextResult) -> None:
        frames_sent_at_result.append(len(progress))

    async with FrameServer(answer_early) as server:
        outcome = await run_session(
            _url(server.url),
            [],
            LAMP,
            "realtime",
            speed=10,  # a 3,200-byte chunk every 10 ms
            on_result=on_result,
            on_progress=lambda sent, total: progress.append(sent),
            settle=0.2,
        )
    assert outcome.ended_as_expected, outcome.problems
    total_frames = len(PROFILES["realtime"].schedule(LAMP))
    assert outcome.frames_sent == total_frames
    assert frames_sent_at_result and frames_sent_at_result[0] < total_frames // 2
    assert [t.frames for t in outcome.tts] == [4]  # 3,246 bytes in 1,000-byte frames
    assert outcome.tts[0].final_id == "0"


async def test_a_server_close_while_streaming_is_reported() -> None:
    async def reject_audio(peer: Peer) -> None:
        await peer.receive()
        await peer.close(1003, "audio must start with a RIFF/WAVE header")
        await peer.closed.wait()

    async with FrameServer(reject_audio) as server:
        outcome = await run_session(_url(server.url), [], LAMP, "realtime", speed=10)
    assert not outcome.streamed_all
    assert outcome.close_code == 1003 and outcome.server_closed_first
    assert outcome.problems[0].startswith(
        "the server closed the session with 1003 (audio must start with a RIFF/WAVE header)"
        " while the client was still sending"
    )


async def test_a_server_that_is_not_there_is_a_problem_not_an_exception() -> None:
    outcome = await run_session("ws://127.0.0.1:9/speech/translate", [], LAMP, "realtime")
    assert outcome.close_code is None
    assert outcome.problems[0].startswith("could not connect")
