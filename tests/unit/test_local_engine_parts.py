"""Pure parts of the local engine: partial stabilisation, the decode gate, markers, models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from shim.emulator.engines import models
from shim.emulator.engines.asr import whisper_language
from shim.emulator.engines.local import unavailable_reason
from shim.emulator.engines.local_session import DecodeGate
from shim.emulator.engines.local_stream import PrefixStabilizer
from shim.emulator.engines.mt import language_code, strip_markers
from shim.emulator.vad import EnergyVad

pytestmark = pytest.mark.unit


def test_stable_prefix_only_grows_even_when_whisper_changes_its_mind() -> None:
    stabilizer = PrefixStabilizer()
    assert stabilizer.update(["And", "so"]) == ["And", "so"]
    assert stabilizer.stable == []
    stabilizer.update(["And", "so", "my"])
    assert stabilizer.stable == ["And"]  # "so" ended the previous decode: maybe cut off
    stabilizer.update(["And", "so", "my", "fellow"])
    assert stabilizer.stable == ["And", "so"]
    # Later decodes rewrite agreed words: what is shown keeps them, and only grows.
    shown = stabilizer.update(["And", "so", "am", "I", "fellow", "Americans"])
    assert shown == ["And", "so", "am", "I", "fellow", "Americans"]
    assert stabilizer.stable == ["And", "so"]
    shown = stabilizer.update(["Ann", "so", "my", "fellow", "Americans", "ask"])
    assert shown == ["And", "so", "my", "fellow", "Americans", "ask"]
    assert stabilizer.stable == ["And", "so"]


def test_agreement_ignores_case_and_punctuation() -> None:
    stabilizer = PrefixStabilizer()
    stabilizer.update(["Custom", "speech", "provides."])
    stabilizer.update(["custom", "Speech,", "provides", "tools"])
    assert stabilizer.stable == ["custom", "Speech,"]
    assert stabilizer.update(["CUSTOM", "speech", "provides", "tools", "that"])[:2] == [
        "custom",
        "Speech,",
    ]


async def test_gate_runs_finals_in_order_and_partials_only_when_idle() -> None:
    gate = DecodeGate()
    assert gate.try_acquire()
    assert not gate.try_acquire()
    order: list[int] = []

    async def final(n: int) -> None:
        await gate.acquire()
        order.append(n)
        await asyncio.sleep(0)
        gate.release()

    waiting = [asyncio.create_task(final(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert not gate.idle and not gate.try_acquire()
    gate.release()
    await asyncio.gather(*waiting)
    assert order == [0, 1, 2]
    assert gate.idle


async def test_gate_survives_a_cancelled_waiter() -> None:
    gate = DecodeGate()
    assert gate.try_acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    gate.release()
    assert gate.idle


def test_apertium_markers_are_stripped_but_arithmetic_is_not() -> None:
    assert strip_markers("El *Zorblax es #bueno y @mal") == "El Zorblax es bueno y mal"
    assert strip_markers("5 * 3 # total") == "5 * 3 # total"


def test_language_codes() -> None:
    assert language_code("pt-BR") == "pt"
    assert language_code("zh-Hans") == "zh"
    assert whisper_language("en-US") == "en"
    assert whisper_language("nb-NO") == "no"


def test_model_directory_without_tokenizer_is_refused_with_the_missing_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(models.ModelError, match=r"missing tokenizer\.json"):
        models.check_model_dir(tmp_path, "--asr-model")
    with pytest.raises(models.ModelError, match="not a directory"):
        models.check_model_dir(tmp_path / "nope", "--asr-model")


def test_explicit_model_comes_from_the_argument_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in models.REQUIRED_FILES:
        (tmp_path / name).write_text("{}")
    monkeypatch.setenv(models.ENV_ASR_MODEL, str(tmp_path))
    source = models.explicit_model(None)
    assert source is not None and source.path == tmp_path
    assert source.origin == models.ENV_ASR_MODEL
    monkeypatch.delenv(models.ENV_ASR_MODEL)
    assert models.explicit_model(None) is None


def test_unavailable_reason_is_none_with_an_explicit_model(tmp_path: Path) -> None:
    reason = unavailable_reason(tmp_path)
    assert reason is None or "faster-whisper" in reason


def test_vad_split_closes_the_open_segment_and_goes_on() -> None:
    rng = np.random.default_rng(1)
    hiss = (rng.normal(0, 30, 16_000)).astype("<i2").tobytes()
    tone = (8000 * np.sin(np.arange(16_000) * 2 * np.pi * 220 / 16_000)).astype("<i2")
    vad = EnergyVad(silence_ms=500)
    vad.feed(hiss)  # a second of room noise: no segment
    assert vad.split(1000) is None
    vad.feed(tone.tobytes())
    start = vad.open_segment_start
    assert start is not None
    piece = vad.split(start + 16_000)
    assert piece is not None and piece.start == start and piece.end == start + 16_000
    assert vad.open_segment_start == start + 16_000
    assert vad.last_voiced_end == vad.position
