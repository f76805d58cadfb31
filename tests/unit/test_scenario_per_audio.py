"""Scenario per audio, without sockets: fingerprints tell recordings apart, and the scripted
engine says what each recording says wherever a session plays it."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from shim.emulator.engines import fingerprint as fp
from shim.emulator.engines.base import Phrase, StreamParams
from shim.emulator.engines.scenario import (
    Recording,
    Scenario,
    ScenarioError,
    Utterance,
    load_scenario,
    recording_from_wav,
    save_scenario,
    scenario_from_dict,
)
from shim.emulator.engines.scripted import ScriptedEngine
from shim.pcmformat import PcmConverter, parse_fmt_chunk
from tests.support.audio_formats import encode
from tests.support.paths import AUDIO, read_pcm

pytestmark = pytest.mark.unit

FILES = {
    "en-US_whatstheweatherlike.wav": "What's the weather like?",
    "en-US_turn-on-the-lamp.wav": "Turn on the lamp.",
    "en-US_wreck-a-nice-beach.wav": "Wreck a nice beach.",
}
SECOND = 32_000


def _recordings() -> tuple[Recording, ...]:
    return tuple(recording_from_wav(AUDIO / n, (Utterance(t),)) for n, t in FILES.items())


def _distance(reference: fp.Fingerprint, pcm: bytes) -> float:
    start = fp.speech_start(pcm)
    assert start is not None
    track = fp.LevelTrack()
    track.feed(pcm, 0)
    window = track.around(start, fp.LEVELS)
    assert window is not None
    levels = window[1]
    return min(fp.distance(reference.levels, levels[k:]) for k in range(2 * fp.SHIFT_STEPS + 1))


def _decoded(body: bytes, tag: int, rate: int) -> bytes:
    bits = 16 if tag == 1 else 8
    block = bits // 8
    converter = PcmConverter(
        parse_fmt_chunk(struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits))
    )
    return converter.convert(body) + converter.flush()


def test_the_same_words_match_however_they_arrive_and_other_words_do_not() -> None:
    weather = read_pcm("en-US_whatstheweatherlike.wav")
    reference = fp.fingerprint(weather)
    assert reference is not None and reference.speech_ms == 110
    same = {
        "as is": weather,
        "after 30 s of silence": bytes(30 * SECOND) + weather,
        "after an odd number of samples": bytes(202) + weather,
        "from 44.1 kHz": _decoded(encode(weather, 44_100, 1, 16), 1, 44_100),
        "from 8 kHz mu-law": _decoded(encode(weather, 8_000, 1, 8, "mulaw"), 7, 8_000),
    }
    for name, pcm in same.items():
        assert _distance(reference, pcm) < fp.MATCH_DB / 2, name
    for other in ("en-US_turn-on-the-lamp.wav", "en-US_jfk.wav"):
        assert _distance(reference, read_pcm(other)) > 2 * fp.MATCH_DB, other


async def _finals(scenario: Scenario, pcm: bytes, chunk: int = 3_200) -> list[tuple[str, int]]:
    engine = ScriptedEngine()
    stream = engine.open_stream(StreamParams("s", "en-US", ("de",), 0, scenario=scenario))
    events = []
    for i in range(0, len(pcm), chunk):
        events += await stream.feed(pcm[i : i + chunk])
    events += await stream.finish()
    return [(e.text, e.offset // 10_000) for e in events if isinstance(e, Phrase)]


@pytest.mark.parametrize("chunk", [3_200, 1_000_000])
async def test_each_file_says_its_own_words_in_any_order_and_repeated(chunk: int) -> None:
    audio = {n: read_pcm(n) for n in FILES}
    pause = bytes(SECOND)
    pcm = (
        pause
        + audio["en-US_wreck-a-nice-beach.wav"]
        + pause
        + audio["en-US_whatstheweatherlike.wav"]
        + audio["en-US_turn-on-the-lamp.wav"]
        + audio["en-US_whatstheweatherlike.wav"]
        + read_pcm("en-US_jfk.wav")[: 3 * SECOND]
    )
    finals = await _finals(Scenario(recordings=_recordings()), pcm, chunk)
    assert [text for text, _ in finals] == [
        "Wreck a nice beach.",
        "What's the weather like?",
        "Turn on the lamp.",
        "What's the weather like?",
        "",  # speech no recording sounds like: NoMatch
    ]
    # Where each recording's speech is: 1 s in, then 1.38 s into the 5 s file, and so on.
    assert finals[0][1] == 1_000 + 1_380
    assert finals[1][1] == 1_000 + 5_000 + 1_000 + 110


async def test_timed_utterances_count_from_the_start_of_their_recording() -> None:
    weather = read_pcm("en-US_whatstheweatherlike.wav")
    print_ = fp.fingerprint(weather)
    assert print_ is not None
    timed = Recording(print_, (Utterance("Weather.", offset_ms=100, duration_ms=1_300),), "w")
    finals = await _finals(Scenario(recordings=(timed,)), bytes(3 * SECOND) + weather)
    assert finals == [("Weather.", 3_100)]


def test_recordings_round_trip_and_a_directory_is_one_scenario(tmp_path: Path) -> None:
    for index, recording in enumerate(_recordings()):
        save_scenario(Scenario(recordings=(recording,)), tmp_path / f"{index}.json")
    (tmp_path / "z-extra.json").write_text('{"utterances": [{"text": "Anything else."}]}')
    merged = load_scenario(tmp_path)
    assert [r.utterances[0].text for r in merged.recordings] == list(FILES.values())
    assert [r.fingerprint for r in merged.recordings] == [r.fingerprint for r in _recordings()]
    assert [u.text for u in merged.utterances] == ["Anything else."]


def test_a_fingerprint_needs_levels_and_utterances() -> None:
    with pytest.raises(ScenarioError, match="levels"):
        scenario_from_dict(
            {"recordings": [{"fingerprint": {"speech_ms": 5, "levels": [-9]}, "utterances": []}]}
        )


async def test_what_the_engine_said_it_understands_when_played_back() -> None:
    """The SDKs' round-trip tests recognise a translation's synthesized speech."""
    engine = ScriptedEngine()
    spoken = await engine.synthesize("Wie ist das Wetter?", "de", None, Scenario())
    heard = Scenario(utterances=(Utterance("Something else entirely."),))
    stream = engine.open_stream(StreamParams("back", "de-DE", (), 0, scenario=heard))
    pcm = bytes(SECOND) + spoken.pcm + bytes(SECOND)
    events = await stream.feed(pcm) + await stream.finish()
    assert [e.text for e in events if isinstance(e, Phrase)] == ["Wie ist das Wetter?"]
