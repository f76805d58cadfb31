"""The contracts against the running server: the ``contract`` fixture on live sessions, a
refused handshake's body, and the token service's text/plain JWT."""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest

from shim.harness.checks import schemas
from shim.harness.session.client import run_session
from shim.harness.session.request import Credential, build_headers, build_url
from tests.support.contracts import ContractSuite
from tests.support.paths import AUDIO
from tests.support.processes import Shim
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e


async def test_every_server_frame_of_a_timed_mp3_session_meets_the_contracts(
    shim: Shim, contract: ContractSuite
) -> None:
    key = shim.emulator.scenario(THREE)
    url = build_url(
        shim.ws_url, from_="en-US", to="de", features="partial,texttospeech,timinginfo",
        format="audio/mp3",
    )  # fmt: skip
    observer = contract.observer("timed mp3")
    outcome = await run_session(
        url,
        build_headers(credential=Credential("key", key)),
        (AUDIO / INSPECT).read_bytes(),
        "whole-file",
        speed=0,
        **observer.hooks,
    )
    assert outcome.ended_as_expected, outcome.problems
    assert len(observer.tts_frames) == 3 and min(observer.tts_frames) >= 2
    assert [r["id"] for r in observer.results if r["type"] == "final"] == ["0", "1", "2"]
    assert observer.failed_rules() == []


async def test_a_refused_handshake_body_is_checked_by_the_observer(
    shim: Shim, contract: ContractSuite
) -> None:
    url = build_url(shim.ws_url, from_="en-US", to="qq")
    observer = contract.observer("bad to")
    outcome = await run_session(
        url, build_headers(credential=Credential("key", "k")), b"", "whole-file", **observer.hooks
    )
    assert outcome.refused is not None and outcome.refused.status == 400
    rules = {r.rule: r.status for r in observer.rules()}
    assert rules["CT2"] == "pass" and rules["HS4"] == "pass"


async def test_the_token_response_is_a_text_plain_jwt_with_the_documented_claims(
    shim: Shim,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            shim.url + "/sts/v1.0/issueToken", headers={"Ocp-Apim-Subscription-Key": "k"}
        ) as response,
    ):
        body = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    assert schemas.problems("token-response.schema.json", body) == []
    claims = json.loads(base64.urlsafe_b64decode(body.split(".")[1] + "=="))
    assert schemas.problems(schemas.TOKEN_CLAIMS, claims) == []
