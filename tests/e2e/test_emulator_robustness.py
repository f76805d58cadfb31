"""Many sessions at once, bad input, and shutdown of the local Speech service."""

from __future__ import annotations

import asyncio
import copy
import json
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest

from shim.emulator import usp
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, shim_command, start_process
from tests.support.scenarios import INSPECT, THREE
from tests.support.sdk_harness import named, translate_continuous

pytestmark = pytest.mark.e2e


def test_twenty_concurrent_sdk_sessions_each_get_their_own_results(emulator: Emulator) -> None:
    pcm = read_pcm(INSPECT)

    def session(index: int) -> tuple[list[str], list[str]]:
        scenario = copy.deepcopy(THREE)
        for utterance in scenario["utterances"]:
            utterance["text"] = f"Session {index}: {utterance['text']}"
        expected = [u["text"] for u in scenario["utterances"]]
        events = translate_continuous(
            emulator.url,
            emulator.scenario(scenario),
            pcm,
            targets=["de", "es"],
            chunk=16000,
            pace=0.02,
            timeout=120,
        )
        return expected, [e.text for e in named(events, "recognized")]

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(session, range(20)))
    for expected, got in outcomes:
        assert got == expected


async def _raw_ws(
    emulator: Emulator, key: str = "any"
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(
        f"{emulator.url}/stt/speech/universal/v2",
        headers={"Ocp-Apim-Subscription-Key": key, "X-ConnectionId": "c0ffee"},
        protocols=("USP",),
    )
    return session, ws


def _context(request_id: str = "r1") -> str:
    body = {
        "phraseDetection": {"mode": "CONVERSATION", "language": "en-US"},
        "translation": {"targetLanguages": ["de"]},
    }
    return usp.build_text("speech.context", request_id, body)


def _riff(tag: int, bits: int) -> bytes:
    """A turn's first audio message: the WAV header of the stream's format."""
    fmt = struct.pack("<HHIIHH", tag, 1, 16000, 32000, 2, bits)
    return b"RIFF\0\0\0\0WAVEfmt " + struct.pack("<I", 16) + fmt + b"data\0\0\0\0"


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        (["not usp at all"], "malformed header line"),
        (["Content-Type: x\r\n\r\n{}"], "no Path header"),
        ([usp.build_text("speech.config", None, "{not json")], "JSON"),
        ([usp.build_binary("audio", "r1", b"\x00" * 640)], "audio before speech.context"),
        ([usp.build_text("speech.bogus", "r1", {})], "unexpected message path"),
        ([b"\x00"], "2-byte"),
        ([struct.pack(">H", 900) + b"Path: audio\r\n"], "does not fit"),
        ([_context(), usp.build_text("speech.context", "r2", "[1, 2")], "JSON"),
        ([_context(), usp.build_binary("audio", "r1", _riff(0x55, 0))], "MP3"),
        ([_context(), usp.build_binary("audio", "r1", _riff(1, 12))], "12 bits"),
    ],
)
async def test_bad_input_closes_that_connection_with_1007_and_service_keeps_serving(
    emulator: Emulator, frames: list[str | bytes], reason: str
) -> None:
    session, ws = await _raw_ws(emulator, emulator.scenario(THREE))
    try:
        for frame in frames:
            if isinstance(frame, str):
                await ws.send_str(frame)
            else:
                await ws.send_bytes(frame)
        while (message := await ws.receive(timeout=10)).type not in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
        ):
            pass
        assert ws.close_code == 1007
        assert reason in (message.extra or "")
    finally:
        await ws.close()
        await session.close()
    health = emulator.url.replace("ws://", "http://") + "/healthz"
    async with aiohttp.ClientSession() as http, http.get(health) as response:
        assert response.status == 200


async def test_unknown_path_and_missing_key_are_http_errors(emulator: Emulator) -> None:
    base = emulator.url.replace("ws://", "http://")
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/no/such/path") as response:
            assert response.status == 404
        async with http.get(base + "/stt/speech/universal/v2") as response:
            assert response.status == 401


async def test_a_full_turn_over_a_raw_websocket_echoes_the_request_id(emulator: Emulator) -> None:
    session, ws = await _raw_ws(emulator, emulator.scenario(THREE))
    pcm = read_pcm(INSPECT)
    header = b"RIFF" + b"\x00" * 40
    try:
        await ws.send_str(usp.build_text("speech.config", None, {"context": {}}))
        await ws.send_str(_context("abc123"))
        await ws.send_bytes(usp.build_binary("audio", "abc123", header, content_type="audio/x-wav"))
        for i in range(0, len(pcm), 32000):
            await ws.send_bytes(usp.build_binary("audio", "abc123", pcm[i : i + 32000]))
        await ws.send_bytes(usp.build_binary("audio", "abc123", b""))
        paths, bodies = [], []
        while True:
            message = usp.parse_text(await ws.receive_str(timeout=10))
            assert message.request_id == "abc123"
            paths.append(message.path)
            bodies.append(message.json())
            if message.path == "turn.end":
                break
        assert paths[0] == "turn.start"
        # Three utterances; then the end of speech and the EndOfDictation that acknowledges
        # the audio's tail.
        assert paths.count("translation.phrase") == 4
        assert bodies[-2]["RecognitionStatus"] == "EndOfDictation"
        assert paths[-3:] == ["speech.endDetected", "translation.phrase", "turn.end"]
    finally:
        await ws.close()
        await session.close()


async def test_sigterm_closes_open_sockets_with_a_code_and_exits_zero(tmp_path: Path) -> None:
    running = start_process(shim_command("emulator"), tmp_path / "emulator.log")
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(
                f"{running.url}/stt/speech/universal/v2", headers={"Ocp-Apim-Subscription-Key": "k"}
            )
            await ws.send_str(_context())
            assert usp.parse_text(await ws.receive_str(timeout=10)).path == "turn.start"
            loop = asyncio.get_running_loop()
            exit_code = loop.run_in_executor(None, running.stop)
            message = await ws.receive(timeout=10)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1001
            assert await exit_code == 0
    finally:
        running.stop()


def test_bad_scenario_file_is_a_one_line_error_naming_the_field(tmp_path: Path) -> None:
    import subprocess

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"utterances": [{"text": "x", "offset_ms": -5, "duration_ms": 10}]}))
    result = subprocess.run(
        shim_command("emulator", "--scenario", str(bad)), capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "$.utterances[0].offset_ms" in lines[0]
