"""Each real client behaviour of spec §2.3, frame by frame, against the real server stack.

Every frame the server sends is checked against the contracts as it arrives.
"""

from __future__ import annotations

import pytest

from shim.harness.session.client import run_session
from shim.harness.session.request import Credential, build_url
from tests.support.contracts import ContractObserver
from tests.support.paths import AUDIO
from tests.support.processes import Shim
from tests.support.scenarios import INSPECT, THREE
from tests.support.sessions import checked_session

pytestmark = pytest.mark.e2e

EXPECTED = [u["text"] for u in THREE["utterances"]]


def _url(shim: Shim, key: str, features: tuple[str, ...] = ("partial", "texttospeech")) -> str:
    return build_url(
        shim.ws_url,
        from_="en-US",
        to="de",
        features=features,
        credential=Credential("key", key),
        credential_form="query",
    )


@pytest.mark.parametrize(
    "profile", ["realtime", "burst", "whole-file", "fragmented", "unfinished", "browser"]
)
async def test_every_client_profile_gets_all_its_finals_and_one_fragmented_tts_each(
    shim: Shim, profile: str
) -> None:
    key = shim.emulator.scenario(THREE)
    observer = ContractObserver()
    wav = (AUDIO / INSPECT).read_bytes()
    outcome = await run_session(
        _url(shim, key), [], wav, profile, speed=0, **observer.hooks, result_timeout=30, settle=1.0
    )
    assert outcome.problems == [] and outcome.ended_as_expected, outcome.problems
    finals = [r.message for r in outcome.finals]
    if profile == "unfinished":
        # The Java quickstart closes after the first TTS message it receives.
        assert finals[0]["recognition"] == EXPECTED[0]
    else:
        assert [f["recognition"] for f in finals] == EXPECTED
        assert [f["id"] for f in finals] == ["0", "1", "2"]
    assert observer.problems == []
    assert observer.tts_frames and all(frames >= 2 for frames in observer.tts_frames)
    assert len(outcome.tts) >= len(finals) - (1 if profile == "unfinished" else 0)
    for tts in outcome.tts:
        assert (
            tts.data[:4] == b"RIFF" and int.from_bytes(tts.data[4:8], "little") == len(tts.data) - 8
        )


async def test_tts_reassembles_to_a_46_byte_header_wav_TS2_TS3(shim: Shim) -> None:
    key = shim.emulator.scenario(THREE)
    observer = ContractObserver()
    outcome = await run_session(
        _url(shim, key),
        [],
        (AUDIO / INSPECT).read_bytes(),
        "whole-file",
        speed=0,
        **observer.hooks,
    )
    assert len(outcome.tts) == 3
    for tts in outcome.tts:
        data = tts.data
        assert tts.frames >= 2
        assert data[12:16] == b"fmt " and int.from_bytes(data[16:20], "little") == 18
        assert data[38:42] == b"data" and int.from_bytes(data[42:46], "little") == len(data) - 46
        assert int.from_bytes(data[24:28], "little") == 16000
        assert int.from_bytes(data[22:24], "little") == 1


async def test_results_arrive_while_a_realtime_client_is_still_streaming(shim: Shim) -> None:
    key = shim.emulator.scenario(THREE)
    outcome = await checked_session(
        _url(shim, key, ("partial",)), [], (AUDIO / INSPECT).read_bytes(), "realtime", speed=4
    )
    first_final = outcome.finals[0].at
    assert first_final < outcome.duration - 3.0  # long before the client stopped sending
    assert [r.message["recognition"] for r in outcome.finals] == EXPECTED
