"""Pure parts of the local engine: partial stabilisation, the batch decoder's scheduling,
Apertium's stream format, phrase lists, encoder windows, models."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from shim.emulator import phrase_list
from shim.emulator.engines import models
from shim.emulator.engines.apertium import escape, strip_markers, unescape
from shim.emulator.engines.asr import (
    DecodeJob,
    Transcript,
    hotword_prompt,
    whisper_language,
    window_frames,
)
from shim.emulator.engines.local import unavailable_reason
from shim.emulator.engines.local_decoder import BatchDecoder
from shim.emulator.engines.local_stream import PrefixStabilizer
from shim.emulator.engines.mt import language_code
from shim.emulator.engines.vad import EnergyVad

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


class _Model:
    """Stands in for WhisperAsr in the scheduler's tests: records each batch it is given and
    answers when the test releases it."""

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self.batches: list[list[DecodeJob]] = []
        self.release = threading.Event()

    def decode_batch(self, jobs: list[DecodeJob]) -> list[Transcript]:
        self.batches.append(jobs)
        self.release.wait(10)
        return [Transcript(job.pcm.decode(errors="replace")) for job in jobs]


def _job(text: str, seconds: float = 2.0, quick: bool = False) -> DecodeJob:
    pcm = text.encode().ljust(int(seconds * 32_000), b" ")
    return DecodeJob(pcm, "en", quick=quick)


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_decoder_serves_waiting_finals_in_one_batch_before_any_partial() -> None:
    model = _Model(lanes=1)
    decoder = BatchDecoder(ThreadPoolExecutor(2))
    first = asyncio.ensure_future(decoder.final(model, _job("first")))
    await _until(lambda: len(model.batches) == 1)
    partial = asyncio.ensure_future(decoder.partial(model, lambda: _job("p", quick=True)))
    finals = [asyncio.ensure_future(decoder.final(model, _job(f"final {n}"))) for n in range(3)]
    await asyncio.sleep(0.05)
    model.release.set()
    results = await asyncio.gather(first, *finals, partial)
    assert [r.text.strip() if r else None for r in results] == [
        "first",
        "final 0",
        "final 1",
        "final 2",
        "p",
    ]
    # The waiting finals went two to a batch; the partial (another window) only after them.
    assert [len(batch) for batch in model.batches] == [1, 2, 1, 1]
    assert model.batches[3][0].quick


async def test_finals_of_ended_segments_go_before_speculative_ones_until_hastened() -> None:
    model = _Model(lanes=1)
    decoder = BatchDecoder(ThreadPoolExecutor(2))
    busy = asyncio.ensure_future(decoder.final(model, _job("busy")))
    await _until(lambda: len(model.batches) == 1)
    early, hastened = _job("speculative", 12.0), _job("hastened", 12.0)
    speculative = asyncio.ensure_future(decoder.final(model, early, speculative=True))
    promoted = asyncio.ensure_future(decoder.final(model, hastened, speculative=True))
    ended = asyncio.ensure_future(decoder.final(model, _job("ended", 12.0)))
    await asyncio.sleep(0.05)
    decoder.hasten(hastened)  # its segment ended while it waited
    model.release.set()
    await asyncio.gather(busy, speculative, promoted, ended)
    order = [job.pcm.decode().strip() for batch in model.batches[1:] for job in batch]
    assert order == ["hastened", "ended", "speculative"]


async def test_a_partial_reads_its_audio_when_its_batch_forms_and_none_when_gone() -> None:
    model = _Model(lanes=1)
    decoder = BatchDecoder(ThreadPoolExecutor(2))
    busy = asyncio.ensure_future(decoder.final(model, _job("busy")))
    await _until(lambda: len(model.batches) == 1)
    audio = ["early"]
    grows = asyncio.ensure_future(decoder.partial(model, lambda: _job(audio[0], quick=True)))
    gone = asyncio.ensure_future(decoder.partial(model, lambda: None))
    await asyncio.sleep(0.05)
    audio[0] = "later"  # more audio arrived while the partial waited
    model.release.set()
    await busy
    grown = await grows
    assert grown is not None and grown.text.strip() == "later"
    assert await gone is None
    assert decoder.stats.dropped_partials == 1


async def test_decoder_runs_at_most_one_batch_per_lane() -> None:
    model = _Model(lanes=2)
    decoder = BatchDecoder(ThreadPoolExecutor(4))
    windows = [1.0, 12.0, 22.0]  # three window sizes: three batches, two lanes
    running = [asyncio.ensure_future(decoder.final(model, _job(f"w{s}", s))) for s in windows]
    await _until(lambda: len(model.batches) == 2)
    await asyncio.sleep(0.05)
    assert len(model.batches) == 2
    model.release.set()
    await asyncio.gather(*running)
    assert len(model.batches) == 3


def test_encoder_windows_are_padded_and_bucketed() -> None:
    assert window_frames(1.0, quick=False) == 2000  # finals: at least 20 s
    assert window_frames(12.0, quick=False) == 2500  # 12 + 10 s, rounded up to 25 s
    assert window_frames(29.0, quick=False) == 3000  # never more than Whisper's 30 s
    assert window_frames(1.0, quick=True) == 1000  # partials: at least 10 s
    assert window_frames(7.5, quick=True) == 1500


def test_phrase_lists_of_both_sdks_become_one_prompt() -> None:
    python_sdk = {
        "dgi": {"Groups": [{"Type": "Generic", "Items": [{"Text": "Wreck a nice beach"}]}]}
    }
    js_sdk = {
        "dgi": {"groups": [{"type": "Generic", "items": [{"text": " Contoso  "}, {"text": "x"}]}]}
    }
    assert phrase_list.phrases(python_sdk) == ("Wreck a nice beach",)
    assert phrase_list.phrases(js_sdk) == ("Contoso", "x")
    assert phrase_list.phrases({"dgi": {"groups": "not a list"}}) == ()
    assert phrase_list.phrases(None) == ()
    assert hotword_prompt(("Wreck a nice beach", "Is it?")) == "Wreck a nice beach. Is it?"
    assert hotword_prompt(()) is None


def test_text_is_escaped_for_apertiums_stream_format_and_back() -> None:
    text = "5 * 3 = [15] a/b $5 <x> ^y^ {z} @w #v \\"
    escaped = escape(text)
    assert "\\*" in escaped and "\\[" in escaped and "\\^" in escaped
    assert unescape(escaped) == text
    assert escape("two\nlines\x00and a null") == "two lines and a null"


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
