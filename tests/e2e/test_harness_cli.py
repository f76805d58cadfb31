"""``translator-speech-shim client`` as a process against a stand-in legacy endpoint."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support import legacy_fake

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LAMP = ROOT.parent / "shared" / "audio" / "en-US_turn-on-the-lamp.wav"


async def _client(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shim.harness.cli.client",
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_streams_a_file_prints_the_final_and_saves_its_tts(tmp_path: Path) -> None:
    behaviour = legacy_fake.Behaviour()
    async with legacy_fake.serve(behaviour) as base:
        code, out, err = await _client(
            str(LAMP),
            "--url", base,
            "--key", legacy_fake.KEY,
            "--profile", "fragmented",
            "--speed", "0",
            "--out", str(tmp_path / "tts"),
        )  # fmt: skip
    assert code == 0, out + err
    assert "final 0" in out and "Turn on the lamp." in out and "Enciende la lámpara." in out
    assert "session ended as expected" in out
    assert legacy_fake.KEY not in out + err
    assert (tmp_path / "tts" / "0.wav").read_bytes() == legacy_fake.tts_wav()
    assert len(behaviour.sessions) == 1 and behaviour.sessions[0].startswith(b"RIFF")


async def test_a_refused_handshake_exits_nonzero_with_status_and_message() -> None:
    async with legacy_fake.serve(legacy_fake.Behaviour()) as base:
        code, _, err = await _client(str(LAMP), "--url", base, "--key", "wrong", "--speed", "0")
    assert code == 3
    assert "HTTP 401" in err and "invalid subscription key" in err


async def test_an_unexpected_close_code_exits_1() -> None:
    async with legacy_fake.serve(legacy_fake.Behaviour(close_code=1011)) as base:
        code, out, _ = await _client(
            str(LAMP), "--url", base, "--key", legacy_fake.KEY, "--profile", "whole-file"
        )
    assert code == 1
    assert "closed with 1011; expected 1000" in out


async def test_a_missing_file_exits_2() -> None:
    code, _, err = await _client("/nonexistent.wav", "--url", "ws://127.0.0.1:9")
    assert code == 2 and "nonexistent.wav" in err


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
async def test_without_a_file_it_streams_a_synthesized_sentence(tmp_path: Path) -> None:
    behaviour = legacy_fake.Behaviour()
    async with legacy_fake.serve(behaviour) as base:
        code, out, err = await _client(
            "--url", base, "--key", legacy_fake.KEY, "--profile", "burst", "--speed", "0"
        )
    assert code == 0, out + err
    audio = behaviour.sessions[0]
    assert audio.startswith(b"RIFF") and len(audio) > 46 + 32_000 + 3_200_000  # > 1 s speech
    speech = audio[46 : len(audio) - 3_200_000]
    assert any(speech), "the synthesized sentence is silent"


async def test_without_a_file_and_without_espeak_ng_it_says_so_and_exits_2() -> None:
    code, _, err = await _client("--url", "ws://127.0.0.1:9", env={"PATH": "/nonexistent"})
    assert code == 2
    assert "espeak-ng is not installed" in err
