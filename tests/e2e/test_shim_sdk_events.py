"""``serve --sdk-events``: either path serves legacy sessions, and the start log says which."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, shim_args, start_process

pytestmark = pytest.mark.e2e

SCENARIO = {
    "utterances": [
        {"offset_ms": 1060, "duration_ms": 780, "text": "Good morning, Steve."},
        {"offset_ms": 2670, "duration_ms": 640, "text": "Good morning."},
    ]
}


@pytest.mark.parametrize(
    ("flag", "logged"),
    [
        ("fast", "SDK events: fast path (requested; SDK 1.53.0 as pinned)"),
        ("public", "SDK events: public path (requested)"),
    ],
)
async def test_serve_reads_sdk_events_the_chosen_way_and_logs_it_once(
    emulator: Emulator, tmp_path: Path, flag: str, logged: str
) -> None:
    running = start_process(shim_args(emulator, "--sdk-events", flag), tmp_path / "shim.log")
    try:
        pcm = read_pcm("en-US_katie-steve-conversation.wav")[: 4_000 * 32]
        key = emulator.scenario(SCENARIO)
        outcome = await run_messages(
            running.url, key, [header46() + pcm, bytes(32_000)], close_after_send=True
        )
        assert [f["recognition"] for f in outcome.finals] == [
            "Good morning, Steve.",
            "Good morning.",
        ]
    finally:
        assert running.stop() == 0
    assert running.log().count("SDK events:") == 1
    assert logged in running.log()
