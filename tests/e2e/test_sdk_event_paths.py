"""The native (fast) and public ways of reading SDK events give the bridge the same events.

The same scripted sessions run through ``SpeechSession`` with each path, side by side on the
real SDK against the local Speech service; the bridge events must match field by field.
This also keeps the public (fallback) path exercised in every test run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shim.speech.event_path import EventPath, PathName
from shim.speech.events import (
    BridgeEvent,
    Canceled,
    Recognized,
    Recognizing,
    Stopped,
    SynthesisAudio,
    SynthesisCompleted,
)
from shim.speech.path_choice import choose_event_path
from shim.speech.runtime import SpeechRuntime
from tests.support.bridge_sessions import comparable, run_bridge_session, shown
from tests.support.paths import read_pcm
from tests.support.processes import Emulator

pytestmark = pytest.mark.e2e

AUDIO_MS = 9_500
SPEECH = [
    (1060, 780, "Good morning, Steve.", "Guten Morgen, Steve."),
    (2670, 640, "Good morning.", "Guten Morgen."),
    (
        4010,
        3190,
        "Katie, have you heard about the new conversation transcription capability?",
        "Katie, hast du von der neuen Transkriptionsfunktion gehört?",
    ),
    (8030, 820, "No, tell me more.", "Nein, erzähl mir mehr."),
]
NOT_SPEECH = [
    (2000, 300, "NoMatch"),  # noise
    (3400, 300, "InitialSilenceTimeout"),  # silence
    (7300, 300, "BabbleTimeout"),  # silence, too
]


def _utterances() -> list[dict[str, Any]]:
    spoken = [
        {"offset_ms": o, "duration_ms": d, "text": t, "translations": {"de": de}}
        for o, d, t, de in SPEECH
    ]
    other = [
        {"offset_ms": o, "duration_ms": d, "text": "", "recognition_status": status}
        for o, d, status in NOT_SPEECH
    ]
    return sorted(spoken + other, key=lambda u: int(u["offset_ms"]))


CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "partials, finals, noise and silence": ({"utterances": _utterances()}, None),
    "synthesis": (
        {
            "utterances": _utterances()[:3],
            "synthesis": {"engine": "tone", "chunk_ms": 300},
        },
        "de-DE-KatjaNeural",
    ),
    "backend 1011 mid-session": (
        {
            "utterances": _utterances(),
            "faults": [{"after_phrase": 2, "close_code": 1011, "once": True}],
        },
        None,
    ),
    "backend 4429 mid-session": (
        {
            "utterances": _utterances(),
            "faults": [{"after_phrase": 3, "close_code": 4429, "close_reason": "quota used up"}],
        },
        None,
    ),
}


@pytest.fixture
async def runtime() -> AsyncIterator[SpeechRuntime]:
    runtime = SpeechRuntime()
    yield runtime
    await runtime.close()


@pytest.fixture(scope="module")
def paths() -> dict[PathName, EventPath]:
    fast = choose_event_path("fast")
    assert fast.name is PathName.FAST, f"the pinned SDK must get the fast path: {fast.reason}"
    return {PathName.FAST: fast, PathName.PUBLIC: choose_event_path("public")}


async def _both(
    emulator: Emulator,
    paths: dict[PathName, EventPath],
    runtime: SpeechRuntime,
    scenario: dict[str, Any],
    voice: str | None = None,
) -> tuple[list[BridgeEvent], list[BridgeEvent]]:
    key = emulator.scenario(scenario)
    pcm = read_pcm("en-US_katie-steve-conversation.wav")[: AUDIO_MS * 32]
    fast, public = await asyncio.gather(
        *(
            run_bridge_session(emulator.url, key, pcm, paths[name], runtime, voice=voice)
            for name in (PathName.FAST, PathName.PUBLIC)
        )
    )
    assert shown(comparable(fast)) == shown(comparable(public))
    assert comparable(fast) == comparable(public)  # audio bytes too
    return fast, public


def _finals(events: list[BridgeEvent]) -> list[Recognized]:
    return [e for e in events if isinstance(e, Recognized)]


@pytest.mark.parametrize("case", list(CASES))
async def test_both_event_paths_deliver_identical_bridge_events(
    emulator: Emulator, paths: dict[PathName, EventPath], runtime: SpeechRuntime, case: str
) -> None:
    scenario, voice = CASES[case]
    events, _ = await _both(emulator, paths, runtime, scenario, voice)

    # What both produced is the real session, not an empty or truncated one.
    finals = _finals(events)
    spoken = [(t, de) for _, _, t, de in SPEECH]
    matched = [(f.text, f.translation) for f in finals if f.matched]
    assert any(isinstance(e, Recognizing) for e in events)
    if case == "backend 4429 mid-session":
        assert matched == spoken[:2]  # phrases 1-3: two spoken, one noise
        canceled = [e for e in events if isinstance(e, Canceled)]
        assert [(c.reason, c.code) for c in canceled] == [("Error", "TooManyRequests")]
        assert "quota used up" in canceled[0].details
    elif case == "synthesis":
        assert matched == spoken[:2]
        assert sum(isinstance(e, SynthesisCompleted) for e in events) == 2
        assert all(e.audio[:4] == b"RIFF" for e in events if isinstance(e, SynthesisAudio))
    else:
        assert matched == spoken  # 1011 is retried transparently: nothing lost or repeated
        unmatched = [(f.matched, f.silence) for f in finals if not f.matched]
        assert unmatched == [(False, False), (False, True), (False, True)]
        assert [(c.reason, c.code) for c in events if isinstance(c, Canceled)] == [
            ("EndOfStream", "NoError")
        ]
    assert isinstance(events[-1], Stopped)
