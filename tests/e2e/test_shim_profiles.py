"""Each real client behaviour of spec §2.3, frame by frame, against the real server stack.

Every frame the server sends is checked against the contracts as it arrives.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from shim.harness.client import run_session
from shim.harness.request import Credential, build_url
from shim.wsframes import Opcode
from tests.conftest import AUDIO, ROOT, Shim
from tests.e2e.test_emulator_translation import INSPECT, THREE

pytestmark = pytest.mark.e2e

RESULT_SCHEMA = json.loads((ROOT / "contracts" / "legacy-result.schema.json").read_text())
EXPECTED = [u["text"] for u in THREE["utterances"]]


class ContractObserver:
    """Validates every server frame: text results against the contract, TTS framing (TS2)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.tts_frames: list[int] = []
        self._frames_in_message = 0
        self._binary_open = False

    def __call__(
        self, direction: str, at: float, opcode: Opcode, fin: bool, payload: bytes
    ) -> None:
        if direction != "in":
            return
        if opcode == Opcode.TEXT:
            if not fin:
                self.problems.append("a text result was fragmented (RS1)")
            if self._binary_open:
                self.problems.append("a text frame inside a TTS message")
            try:
                jsonschema.validate(json.loads(payload), RESULT_SCHEMA)
            except (ValueError, jsonschema.ValidationError) as error:
                self.problems.append(f"contract: {error}")
            if b" " in payload.split(b'"recognition"')[0]:
                self.problems.append("JSON is not compact")
        elif opcode == Opcode.BINARY:
            self._binary_open, self._frames_in_message = not fin, 1
            if fin:
                self.tts_frames.append(1)
        elif opcode == Opcode.CONTINUATION:
            self._frames_in_message += 1
            if fin:
                self._binary_open = False
                self.tts_frames.append(self._frames_in_message)


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
        _url(shim, key), [], wav, profile, speed=0, observer=observer, result_timeout=30, settle=1.0
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
        observer=observer,
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
    outcome = await run_session(
        _url(shim, key, ("partial",)), [], (AUDIO / INSPECT).read_bytes(), "realtime", speed=4
    )
    first_final = outcome.finals[0].at
    assert first_final < outcome.duration - 3.0  # long before the client stopped sending
    assert [r.message["recognition"] for r in outcome.finals] == EXPECTED
