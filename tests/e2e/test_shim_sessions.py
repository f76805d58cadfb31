"""Legacy sessions end to end: results, TTS, audio input forms, profanity, 1003 cases."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest
import soxr
from pydub import AudioSegment

from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Shim
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e

QUERY = {"api-version": "1.0", "from": "en-US", "to": "de"}
EXPECTED = [u["text"] for u in THREE["utterances"]]


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_three_utterances_with_partial_timing_and_tts_in_legacy_order(shim: Shim) -> None:
    key = shim.emulator.scenario(THREE)
    query = {**QUERY, "features": "Partial,TimingInfo,TextToSpeech"}
    pcm = read_pcm(INSPECT)
    outcome = await run_messages(
        shim.url,
        key,
        [header46(), *_chunks(pcm, 32_000), bytes(64_000)],
        query=query,
        close_after_send=True,
    )
    finals = outcome.finals
    assert [f["recognition"] for f in finals] == EXPECTED
    assert [f["translation"] for f in finals] == [
        u["translations"]["de"] for u in THREE["utterances"]
    ]
    assert [f["id"] for f in finals] == ["0", "1", "2"]
    for final, utterance in zip(finals, THREE["utterances"], strict=True):
        assert final["audioTimeOffset"] == utterance["offset_ms"] * 10_000
        assert final["audioTimeSize"] == utterance["duration_ms"] * 10_000
        assert final["audioStreamPosition"] == utterance["offset_ms"] * 32
        assert final["audioSizeBytes"] == utterance["duration_ms"] * 32
    partials = [t for t in outcome.texts if t["type"] == "partial"]
    assert partials and all("audioTimeOffset" in p for p in partials)
    for index in range(3):
        ks = [int(p["id"].split(".")[1]) for p in partials if p["id"].startswith(f"{index}.")]
        assert ks and ks == sorted(ks) and len(set(ks)) == len(ks)
    assert len(outcome.binaries) == 3
    for audio in outcome.binaries:
        assert audio[:4] == b"RIFF" and struct.unpack_from("<I", audio, 4)[0] == len(audio) - 8
        assert struct.unpack_from("<I", audio, 16)[0] == 18  # fmt chunk of 18 bytes: 46-byte header
        with wave.open(io.BytesIO(audio)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
            assert wav.getnframes() > 1600


async def test_mp3_output_decodes(shim: Shim) -> None:
    key = shim.emulator.scenario(THREE)
    query = {**QUERY, "features": "texttospeech", "format": "audio/mp3"}
    outcome = await run_messages(
        shim.url,
        key,
        [header46() + read_pcm(INSPECT), bytes(32_000)],
        query=query,
        close_after_send=True,
    )
    assert len(outcome.finals) == 3 and len(outcome.binaries) == 3
    for audio in outcome.binaries:
        assert audio[:3] == b"ID3" or audio[0] == 0xFF
        decoded = AudioSegment.from_file(io.BytesIO(audio), format="mp3")
        assert len(decoded) > 200  # milliseconds


async def test_whole_file_plus_100_s_silence_then_immediate_close_gets_every_final(
    shim: Shim,
) -> None:
    """The C# quickstart: the file in one message, 3,200,000 bytes of silence, Close(1000)."""
    key = shim.emulator.scenario(THREE)
    wav = header46() + read_pcm(INSPECT)
    outcome = await run_messages(shim.url, key, [wav, bytes(3_200_000)], close_after_send=True)
    assert [f["recognition"] for f in outcome.finals] == EXPECTED
    assert outcome.close_code == 1000


async def test_separate_46_byte_header_then_3200_byte_chunks(shim: Shim) -> None:
    key = shim.emulator.scenario(THREE)
    pcm = read_pcm(INSPECT)
    outcome = await run_messages(
        shim.url, key, [header46(), *_chunks(pcm, 3200), bytes(64_000)], close_after_send=True
    )
    assert [f["recognition"] for f in outcome.finals] == EXPECTED


@pytest.mark.parametrize(("rate", "channels"), [(22050, 1), (8000, 1), (44100, 2), (48000, 2)])
async def test_other_pcm_rates_and_stereo_are_resampled(
    shim: Shim, rate: int, channels: int
) -> None:
    key = shim.emulator.scenario(THREE)
    samples = np.frombuffer(read_pcm(INSPECT), dtype="<i2")
    converted = np.asarray(soxr.resample(samples, 16000, rate), dtype="<i2")
    if channels == 2:
        converted = np.repeat(converted, 2)
    body = converted.tobytes()
    header = header46(rate, channels)
    outcome = await run_messages(
        shim.url,
        key,
        [header, *_chunks(body, 64_000), bytes(rate * 2 * channels)],
        close_after_send=True,
    )
    assert [f["recognition"] for f in outcome.finals] == EXPECTED
    # Timing is in the session's 16 kHz audio whatever the client sent.
    timed = await run_messages(
        shim.url,
        key,
        [header + body],
        query={**QUERY, "features": "timinginfo"},
        close_after_send=True,
    )
    assert timed.finals[1]["audioTimeOffset"] == THREE["utterances"][1]["offset_ms"] * 10_000


async def test_a_riff_header_on_every_blob_is_stripped(shim: Shim) -> None:
    key = shim.emulator.scenario(THREE)
    pcm = read_pcm(INSPECT)
    blobs = [header46() + chunk for chunk in _chunks(pcm, 6400)]
    outcome = await run_messages(
        shim.url, key, blobs, query={**QUERY, "features": "timinginfo"}, close_after_send=True
    )
    assert [f["recognition"] for f in outcome.finals] == EXPECTED
    assert [f["audioTimeOffset"] for f in outcome.finals] == [
        u["offset_ms"] * 10_000 for u in THREE["utterances"]
    ]


async def test_audio_without_a_header_closes_1003_AI6(shim: Shim) -> None:
    outcome = await run_messages(
        shim.url, shim.emulator.scenario(THREE), [read_pcm(INSPECT)[:32000]]
    )
    assert outcome.close_code == 1003


async def test_non_pcm_audio_closes_1003(shim: Shim) -> None:
    mulaw = bytearray(header46())
    struct.pack_into("<H", mulaw, 20, 7)  # WAVE_FORMAT_MULAW
    outcome = await run_messages(
        shim.url, shim.emulator.scenario(THREE), [bytes(mulaw) + bytes(8000)]
    )
    assert outcome.close_code == 1003


async def test_a_text_frame_closes_1003_AI1(shim: Shim) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            shim.ws_url + "/speech/translate",
            params=QUERY,
            headers={"Ocp-Apim-Subscription-Key": shim.emulator.scenario(THREE)},
        ) as ws,
    ):
        await ws.send_str('{"type":"updateFeatures"}')
        message = await ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1003 and "binary" in (message.extra or "")


async def test_no_match_gives_a_final_with_empty_strings_RS6(shim: Shim) -> None:
    key = shim.emulator.scenario(
        {
            "utterances": [
                {
                    "offset_ms": 100,
                    "duration_ms": 800,
                    "text": "x",
                    "recognition_status": "NoMatch",
                },
                {
                    "offset_ms": 1000,
                    "duration_ms": 500,
                    "text": "Weather.",
                    "translations": {"de": "Wetter."},
                },
            ]
        }
    )
    outcome = await run_messages(
        shim.url,
        key,
        [header46() + read_pcm("en-US_whatstheweatherlike.wav")],
        close_after_send=True,
    )
    assert [(f["id"], f["recognition"], f["translation"]) for f in outcome.finals] == [
        ("0", "", ""),
        ("1", "Weather.", "Wetter."),
    ]


async def test_same_language_translation_repeats_the_recognition_RS8(shim: Shim) -> None:
    key = shim.emulator.scenario(THREE)
    outcome = await run_messages(
        shim.url,
        key,
        [header46() + read_pcm(INSPECT)],
        query={**QUERY, "to": "en"},
        close_after_send=True,
    )
    assert [(f["recognition"], f["translation"]) for f in outcome.finals] == [
        (t, t) for t in EXPECTED
    ]


@pytest.mark.parametrize(
    ("action", "marker", "expected"),
    [
        ("NoAction", None, "The word crap is a profanity."),
        ("Deleted", None, "The word is a profanity."),
        ("Marked", "Asterisk", "The word **** is a profanity."),
        ("Marked", "Tag", "The word <profanity>crap</profanity> is a profanity."),
        (None, None, "The word **** is a profanity."),
    ],
)
async def test_profanity_options_reach_the_service(
    shim: Shim, action: str | None, marker: str | None, expected: str
) -> None:
    key = shim.emulator.scenario(
        {
            "utterances": [
                {
                    "offset_ms": 100,
                    "duration_ms": 2000,
                    "text": "The word crap is a profanity.",
                    "translations": {"de": "Das Wort crap ist vulgär."},
                }
            ]
        }
    )
    query = dict(QUERY)
    if action:
        query["ProfanityAction"] = action
    if marker:
        query["profanitymarker"] = marker
    outcome = await run_messages(
        shim.url,
        key,
        [header46() + read_pcm("en-US_legacy-client-profanity01.wav")],
        query=query,
        close_after_send=True,
    )
    assert [f["recognition"] for f in outcome.finals] == [expected]
