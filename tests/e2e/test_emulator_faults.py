"""Fault injection: what the real SDK does when the local Speech service misbehaves."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.paths import read_pcm
from tests.support.processes import Emulator
from tests.support.scenarios import INSPECT, THREE
from tests.support.sdk_harness import named, translate_continuous

pytestmark = pytest.mark.e2e

NO_RETRY = {"SPEECH-Error-MaxRetryCount": "0"}


def test_mid_session_1011_once_is_retried_transparently_and_nothing_is_lost(
    emulator: Emulator,
) -> None:
    key = emulator.scenario(
        {**THREE, "faults": [{"after_phrase": 1, "close_code": 1011, "once": True}]}
    )
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de", "es"])
    finals = named(events, "recognized")
    assert [f.text for f in finals] == [u["text"] for u in THREE["utterances"]]
    assert [f.offset // 10_000 for f in finals] == [u["offset_ms"] for u in THREE["utterances"]]
    assert [(c.reason, c.code) for c in named(events, "canceled")] == [("EndOfStream", "NoError")]
    # The reconnect really happened: the service saw a continuation turn.
    assert re.search(r"base \d+ ms \(continuation\)", emulator.running.log())


def test_close_4429_cancels_with_too_many_requests(emulator: Emulator) -> None:
    key = emulator.scenario(
        {**THREE, "faults": [{"at_turn_start": True, "close_code": 4429, "close_reason": "quota"}]}
    )
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de"])
    (canceled,) = named(events, "canceled")
    assert (canceled.reason, canceled.code) == ("Error", "TooManyRequests")
    assert "quota" in canceled.details
    assert not named(events, "recognized")


def test_http_401_at_upgrade_is_an_authentication_failure(emulator: Emulator) -> None:
    key = emulator.scenario({**THREE, "faults": [{"at_upgrade": True, "http_status": 401}]})
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de"])
    (canceled,) = named(events, "canceled")
    assert (canceled.reason, canceled.code) == ("Error", "AuthenticationFailure")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "BadRequest"),
        (403, "AuthenticationFailure"),
        (429, "TooManyRequests"),
        (503, "ServiceUnavailable"),
        (500, "ServiceError"),
    ],
)
def test_http_status_at_upgrade_maps_to_the_sdk_error_code(
    emulator: Emulator, status: int, code: str
) -> None:
    key = emulator.scenario({**THREE, "faults": [{"at_upgrade": True, "http_status": status}]})
    events = translate_continuous(
        emulator.url, key, read_pcm(INSPECT)[:64000], targets=["de"], properties=NO_RETRY
    )
    (canceled,) = named(events, "canceled")
    assert (canceled.reason, canceled.code) == ("Error", code)


def test_no_match_status_gives_a_no_match_result(emulator: Emulator) -> None:
    scenario = {
        "utterances": [
            {
                "offset_ms": 200,
                "duration_ms": 900,
                "text": "ignored",
                "recognition_status": "NoMatch",
            },
            {
                "offset_ms": 1200,
                "duration_ms": 600,
                "text": "Weather.",
                "translations": {"de": "Wetter."},
            },
        ]
    }
    events = translate_continuous(
        emulator.url,
        emulator.scenario(scenario),
        read_pcm("en-US_whatstheweatherlike.wav"),
        targets=["de"],
    )
    finals = named(events, "recognized")
    assert [f.reason for f in finals] == ["NoMatch", "TranslatedSpeech"]
    assert finals[0].no_match_reason == "NotRecognized"


def test_on_phrase_fault_turns_a_phrase_into_initial_silence_timeout(emulator: Emulator) -> None:
    key = emulator.scenario(
        {**THREE, "faults": [{"on_phrase": 2, "recognition_status": "InitialSilenceTimeout"}]}
    )
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de"])
    finals = named(events, "recognized")
    assert [f.reason for f in finals] == ["TranslatedSpeech", "NoMatch", "TranslatedSpeech"]
    assert finals[1].no_match_reason == "InitialSilenceTimeout"


def test_error_status_cancels_with_service_error(emulator: Emulator) -> None:
    key = emulator.scenario({**THREE, "faults": [{"on_phrase": 1, "recognition_status": "Error"}]})
    events = translate_continuous(
        emulator.url, key, read_pcm(INSPECT), targets=["de"], properties=NO_RETRY
    )
    (canceled,) = named(events, "canceled")
    assert (canceled.reason, canceled.code) == ("Error", "ServiceError")


def test_close_1007_is_not_retried(emulator: Emulator) -> None:
    key = emulator.scenario({**THREE, "faults": [{"after_phrase": 1, "close_code": 1007}]})
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de"])
    assert len(named(events, "recognized")) == 1
    (canceled,) = named(events, "canceled")
    assert (canceled.reason, canceled.code) == ("Error", "BadRequest")


def test_per_connection_fault_from_the_query_overrides_nothing_else(emulator: Emulator) -> None:
    import azure.cognitiveservices.speech as speechsdk

    from tests.support.sdk_harness import run_continuous, translation_config

    key = emulator.scenario(THREE)
    config = translation_config(emulator.url, key, "en-US", ["de"])
    config.set_service_property(
        "fault",
        json.dumps({"at_turn_start": True, "close_code": 4429}),
        speechsdk.ServicePropertyChannel.UriQueryParameter,
    )
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    events = run_continuous(recognizer, stream, read_pcm(INSPECT)[:32000])
    del recognizer
    (canceled,) = named(events, "canceled")
    assert canceled.code == "TooManyRequests"


def test_slow_responses_still_arrive_in_order(emulator: Emulator) -> None:
    key = emulator.scenario({**THREE, "faults": [{"at_turn_start": True, "delay_ms": 30}]})
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de"])
    assert [f.text for f in named(events, "recognized")] == [u["text"] for u in THREE["utterances"]]


def test_tcp_reset_once_is_survived_by_the_sdk_reconnect(emulator: Emulator) -> None:
    key = emulator.scenario({**THREE, "faults": [{"after_phrase": 1, "reset": True, "once": True}]})
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de"])
    assert [f.text for f in named(events, "recognized")] == [u["text"] for u in THREE["utterances"]]


async def test_hang_keeps_the_socket_open_and_silent(emulator: Emulator) -> None:
    import aiohttp

    from shim.emulator import usp

    key = emulator.scenario({**THREE, "faults": [{"at_turn_start": True, "hang": True}]})
    context = {
        "phraseDetection": {"mode": "CONVERSATION", "language": "en-US"},
        "translation": {"targetLanguages": ["de"]},
    }
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            f"{emulator.url}/stt/speech/universal/v2", headers={"Ocp-Apim-Subscription-Key": key}
        ) as ws,
    ):
        await ws.send_str(usp.build_text("speech.context", "r1", context))
        assert usp.parse_text(await ws.receive_str(timeout=5)).path == "turn.start"
        pcm = read_pcm(INSPECT)
        for i in range(0, len(pcm), 64000):
            await ws.send_bytes(usp.build_binary("audio", "r1", pcm[i : i + 64000]))
        await ws.send_bytes(usp.build_binary("audio", "r1", b""))
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=1.5)
        assert not ws.closed


def test_update_language_event_adds_a_target_mid_session(emulator: Emulator) -> None:
    import threading

    import azure.cognitiveservices.speech as speechsdk

    from tests.support.sdk_harness import run_continuous, translation_config

    key = emulator.scenario(THREE)
    config = translation_config(emulator.url, key, "en-US", ["de"])
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    added = threading.Event()
    add_target = recognizer.add_target_language

    def add_spanish(args: object) -> None:
        if not added.is_set():
            added.set()
            add_target("es")

    recognizer.recognized.connect(add_spanish)
    events = run_continuous(recognizer, stream, read_pcm(INSPECT), chunk=16000, pace=0.05)
    finals = named(events, "recognized")
    assert set(finals[0].translations) == {"de"}
    assert set(finals[-1].translations) == {"de", "es"}
    assert finals[-1].translations["es"] == THREE["utterances"][2]["translations"]["es"]


async def test_faults_set_while_the_service_runs_apply_to_new_connections_until_cleared() -> None:
    from aiohttp import WSServerHandshakeError
    from aiohttp.test_utils import TestClient, TestServer

    from shim.emulator.engines.scenario import Scenario
    from shim.emulator.service import EmulatorSettings, create_app

    throttle = [{"at_upgrade": True, "http_status": 429}]
    key = {"Ocp-Apim-Subscription-Key": "k"}
    async with TestClient(TestServer(create_app(EmulatorSettings(Scenario())))) as client:
        bad = await client.put("/emulator/faults", data='[{"at_upgrade": true}]')
        assert bad.status == 400
        assert "a fault needs an action" in (await bad.json())["error"]["message"]
        set_ = await client.put("/emulator/faults", data=json.dumps(throttle))
        assert await set_.json() == {"faults": throttle}
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect("/stt/speech/universal/v2", headers=key, protocols=("USP",))
        assert refused.value.status == 429
        await client.put("/emulator/faults", data="[]")
        assert await (await client.get("/emulator/faults")).json() == {"faults": []}
        ws = await client.ws_connect("/stt/speech/universal/v2", headers=key, protocols=("USP",))
        await ws.close()


def test_a_lost_phrase_leaves_its_hypotheses_without_a_final(emulator: Emulator) -> None:
    """``lose``: a result lost inside the service. The SDK reports the phrase's hypotheses,
    no final for it, and the end of the stream as if nothing were missing."""
    key = emulator.scenario({**THREE, "faults": [{"on_phrase": 2, "lose": True}]})
    events = translate_continuous(emulator.url, key, read_pcm(INSPECT), targets=["de"])
    texts = [u["text"] for u in THREE["utterances"]]
    assert [f.text for f in named(events, "recognized")] == [texts[0], texts[2]]
    second_start = THREE["utterances"][1]["offset_ms"]
    assert any(h.offset // 10_000 == second_start for h in named(events, "recognizing"))
    assert [(c.reason, c.code) for c in named(events, "canceled")] == [("EndOfStream", "NoError")]
