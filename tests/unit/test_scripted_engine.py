"""The scripted engine and its scenario files, without sockets."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest

from shim.emulator.engines.base import Hypothesis, Phrase, StreamParams
from shim.emulator.engines.scenario import (
    ScenarioError,
    load_scenario,
    parse_fault_spec,
    save_scenario,
    scenario_from_dict,
)
from shim.emulator.engines.scripted import ScriptedEngine
from shim.emulator.engines.vad import EnergyVad
from tests.support.paths import read_pcm

pytestmark = pytest.mark.unit

SCENARIO = scenario_from_dict(
    {
        "utterances": [
            {
                "offset_ms": 100,
                "duration_ms": 900,
                "text": "Good morning, Steve.",
                "translations": {"de": "Guten Morgen, Steve."},
            },
            {"offset_ms": 1200, "duration_ms": 500, "text": "Hello."},
        ]
    }
)


def _params(start_ticks: int = 0, session: str = "s") -> StreamParams:
    return StreamParams(session, "en-US", ("de", "fr"), start_ticks, scenario=SCENARIO)


async def _run(
    engine: ScriptedEngine, params: StreamParams, pcm: bytes, chunk: int = 3200
) -> list[object]:
    stream = engine.open_stream(params)
    events: list[object] = []
    for i in range(0, len(pcm), chunk):
        events += await stream.feed(pcm[i : i + chunk])
    return events + await stream.finish()


async def test_final_is_due_when_audio_passes_the_end_and_partials_grow_before() -> None:
    events = await _run(ScriptedEngine(), _params(), bytes(64_000))
    texts = [
        (type(e).__name__, getattr(e, "text", None))
        for e in events
        if type(e).__name__ != "SpeechStarted"
    ]
    assert texts[-1] == ("Phrase", "Hello.")
    first_final = next(e for e in events if isinstance(e, Phrase))
    assert first_final.offset == 1_000_000 and first_final.duration == 9_000_000
    assert first_final.translations == {
        "de": "Guten Morgen, Steve.",
        "fr": "[fr] Good morning, Steve.",
    }
    partials = [e for e in events[: events.index(first_final)] if isinstance(e, Hypothesis)]
    assert partials[0].text == "Good"
    assert partials[-1].text == "Good morning, Steve"
    assert [len(p.text.split()) for p in partials] == sorted(len(p.text.split()) for p in partials)


async def test_audio_ending_early_leaves_later_utterances_unsaid() -> None:
    events = await _run(ScriptedEngine(), _params(), bytes(32_000 * 11 // 10))  # 1.1 s
    assert [e.text for e in events if isinstance(e, Phrase)] == ["Good morning, Steve."]


async def test_reconnect_from_an_acknowledged_offset_does_not_repeat_earlier_finals() -> None:
    engine = ScriptedEngine()
    await _run(engine, _params(session="x"), bytes(32_000))
    resumed = await _run(engine, _params(start_ticks=10_000_000, session="x"), bytes(32_000))
    assert [e.text for e in resumed if isinstance(e, Phrase)] == ["Hello."]
    final = next(e for e in resumed if isinstance(e, Phrase))
    assert final.offset == 12_000_000  # absolute, the service makes it turn-relative


def test_vad_finds_the_speech_segments_of_a_real_recording() -> None:
    pcm = read_pcm("en-US_katie-steve-conversation.wav")
    vad = EnergyVad(silence_ms=500)
    segments = []
    for i in range(0, len(pcm), 4000):
        segments += vad.feed(pcm[i : i + 4000])
    segments += vad.flush()
    assert len(segments) >= 5
    assert all(a.end <= b.start for a, b in itertools.pairwise(segments))
    assert segments[0].start > 32_000  # a second of silence before Katie speaks


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"utterances": [{"offset_ms": 1}]}, "$.utterances[0]"),
        ({"utterances": [{"text": 3}]}, "$.utterances[0].text"),
        ({"faults": [{"close_code": 1011}]}, "exactly one trigger"),
        ({"faults": [{"after_phrase": 1}]}, "needs an action"),
        ({"faults": [{"after_phrase": 1, "http_status": 401}]}, "at_upgrade"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_scenarios_are_one_line_errors_naming_the_field(
    document: dict[str, object], where: str
) -> None:
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict(document, "s.json")
    assert where in str(error.value) and "\n" not in str(error.value)


def test_a_saved_scenario_loads_back_the_same_with_audio_paths_relative_to_its_file(
    tmp_path: Path,
) -> None:
    document = {
        "description": "round trip",
        "utterances": [
            {
                "offset_ms": 0,
                "duration_ms": 900,
                "text": "Hello.",
                "translations": {"de": "Hallo."},
            },
            {"text": "Unheard.", "recognition_status": "NoMatch"},
            {
                "text": "Spoken.",
                "translations": {"de": "Gesprochen."},
                "audio": {"de": "s/0.de.wav"},
            },
        ],
        "faults": [{"after_phrase": 1, "close_code": 1011, "once": True}],
        "segmentation_silence_ms": 700,
        "synthesis": {"engine": "tone", "chunk_ms": 200},
    }
    original = scenario_from_dict(document, "a.json", tmp_path)
    path = tmp_path / "copy.json"
    save_scenario(original, path)
    assert json.loads(path.read_text("utf-8")) == document  # the file form, defaults left out
    again = load_scenario(path)
    assert again == scenario_from_dict(document, str(path), tmp_path)
    assert again.utterances[2].audio == {"de": str(tmp_path / "s" / "0.de.wav")}


def test_a_scenario_the_schema_refuses_is_not_written(tmp_path: Path) -> None:
    bad = scenario_from_dict({"utterances": [{"text": "x"}]}).with_faults(
        parse_fault_spec('{"at_turn_start": true, "close_code": 4429}')
    )
    bad = dataclasses.replace(bad, segmentation_silence_ms=5)  # below the schema's minimum
    with pytest.raises(ScenarioError):
        save_scenario(bad, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_per_connection_fault_spec_accepts_an_object_or_a_list() -> None:
    assert len(parse_fault_spec('{"at_turn_start": true, "close_code": 4429}')) == 1
    assert (
        len(
            parse_fault_spec(
                '[{"at_upgrade": true, "http_status": 503}, {"after_phrase": 2, "hang": true}]'
            )
        )
        == 2
    )
    with pytest.raises(ScenarioError):
        parse_fault_spec('{"at_turn_start": true}')


async def test_without_scenario_utterances_each_speech_segment_gets_a_synthetic_one() -> None:
    from shim.emulator.engines.scenario import Scenario

    params = StreamParams("g", "en-US", ("es",), 0, scenario=Scenario())
    events = await _run(ScriptedEngine(), params, read_pcm("en-US_jfk.wav"))
    finals = [e for e in events if isinstance(e, Phrase) and e.status == "Success"]
    assert [f.text for f in finals] == [f"Scripted speech segment number {n}." for n in range(1, 5)]
    assert finals[0].translations == {"es": "[es] Scripted speech segment number 1."}
