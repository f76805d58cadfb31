"""Profanity with the real offline engines: legacy client → shim → SDK → local engine.

The shared recording says "The word crap is a profanity." (Whisper tiny.en hears it); with
ProfanityAction=Marked and ProfanityMarker=Tag the translation tags the word too, and the
translation's speech is still produced (without the word, see shim.emulator.profanity).
"""

from __future__ import annotations

import pytest

from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import RunningProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.parametrize("target", ["es", "fr"])
async def test_marked_tag_tags_the_profanity_in_recognition_and_translation(
    local_shim: RunningProcess, target: str
) -> None:
    outcome = await run_messages(
        local_shim.url,
        "k",
        [header46() + read_pcm("en-US_legacy-client-profanity01.wav"), bytes(64_000)],
        query={
            "api-version": "1.0",
            "from": "en-US",
            "to": target,
            "features": "texttospeech",
            "ProfanityAction": "Marked",
            "ProfanityMarker": "Tag",
        },
        close_after_send=True,
        timeout=120,
    )
    (final,) = [f for f in outcome.finals if f["recognition"]]
    assert "<profanity>crap</profanity>" in final["recognition"].lower()
    assert "<profanity>" in final["translation"], final["translation"]
    assert outcome.binaries, "the translation's speech is still synthesized"
