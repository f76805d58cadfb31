"""Microsoft's JavaScript Speech SDK against the local Speech service, in Node.

The real npm package (``microsoft-cognitiveservices-speech-sdk``, pinned in
``tests/js/package.json``, installed by ``make test`` with ``npm ci``) runs in a Node
subprocess (``tests/js/sdk_session.js``) that prints every SDK event as a JSON line. Node's
own code path uses the ``ws`` package (headers and query); ``node --experimental-websocket``
gives Node a global ``WebSocket``, which the SDK then prefers, exactly as in a browser: no
headers, credentials and connection id in the query only.

Where the JavaScript SDK legitimately differs from the Python one, the test says so.
"""

from __future__ import annotations

import base64
import re
import subprocess
from typing import Any

import pytest

from tests.support.js_sdk import Record, named, run_js, unavailable
from tests.support.processes import Emulator
from tests.support.scenarios import THREE, WEATHER

pytestmark = [pytest.mark.e2e]

TICKS_PER_MS = 10_000
WEATHER_WAV = "en-US_whatstheweatherlike.wav"


@pytest.fixture(scope="module")
def browser_websocket(node: str) -> None:
    """Node 20.10+ has a WebSocket behind --experimental-websocket (Node 22: on by default)."""
    probe = subprocess.run(
        [
            node,
            "--experimental-websocket",
            "-e",
            "process.exit(typeof WebSocket === 'function' ? 0 : 1)",
        ],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        unavailable("this Node has no WebSocket of its own (Node 20.10 or newer has)")


def _check_finals_match(finals: list[Record], utterances: list[dict[str, Any]]) -> None:
    assert [f["text"] for f in finals] == [u["text"] for u in utterances]
    for final, utterance in zip(finals, utterances, strict=True):
        assert final["offset"] == utterance["offset_ms"] * TICKS_PER_MS
        assert final["duration"] == utterance["duration_ms"] * TICKS_PER_MS


def test_js_continuous_translation_with_synthesis(
    node: str, emulator: Emulator, pcm_file: Any
) -> None:
    records = run_js(
        node,
        {
            "kind": "translation",
            "host": emulator.url,
            "key": emulator.scenario(THREE),
            "targets": ["de", "es"],
            "voice": "de-DE-KatjaNeural",
            "audio": pcm_file(),
        },
    )
    assert records[0]["websocket"] == "ws"  # Node's own code path
    finals = named(records, "recognized")
    assert [f["reason"] for f in finals] == ["TranslatedSpeech"] * 3
    _check_finals_match(finals, THREE["utterances"])
    assert [f["translations"] for f in finals] == [u["translations"] for u in THREE["utterances"]]
    partials = named(records, "recognizing", "TranslatingSpeech")
    assert partials and all(set(p["translations"]) == {"de", "es"} for p in partials)
    # The JavaScript SDK maps every target to the voice (defaultVoices {de, es}) and sends no
    # synthesizedLanguages; the service speaks the voice's language: one audio stream per final.
    completed = named(records, "synthesizing", "SynthesizingAudioCompleted")
    audio = [base64.b64decode(r["audio"]) for r in named(records, "synthesizing")]
    assert len(completed) == 3
    chunks = [a for a in audio if a]
    assert chunks and all(chunk[:4] == b"RIFF" for chunk in chunks)
    assert [(c["reason"], c["code"]) for c in named(records, "canceled")] == [
        ("EndOfStream", "NoError")
    ]
    assert named(records, "session_stopped")


def test_js_translation_once_returns_the_scripted_text(
    node: str, emulator: Emulator, pcm_file: Any
) -> None:
    records = run_js(
        node,
        {
            "kind": "translation",
            "mode": "once",
            "host": emulator.url,
            "key": emulator.scenario(WEATHER),
            "targets": ["de"],
            "audio": pcm_file(WEATHER_WAV),
        },
    )
    (result,) = named(records, "result")
    assert result["reason"] == "TranslatedSpeech"
    assert result["text"] == "What's the weather like?"
    assert result["translations"] == {"de": "Wie ist das Wetter?"}
    assert (result["offset"], result["duration"]) == (1_000_000, 12_900_000)


@pytest.mark.parametrize("detailed", [False, True], ids=["simple", "detailed"])
@pytest.mark.parametrize("mode", ["once", "continuous"])
def test_js_plain_recognition(
    node: str, emulator: Emulator, pcm_file: Any, mode: str, detailed: bool
) -> None:
    records = run_js(
        node,
        {
            "kind": "speech",
            "mode": mode,
            "host": emulator.url,
            "key": emulator.scenario(WEATHER),
            "detailed": detailed,
            "audio": pcm_file(WEATHER_WAV),
        },
    )
    results = named(records, "result" if mode == "once" else "recognized")
    assert [(r["reason"], r["text"]) for r in results] == [
        ("RecognizedSpeech", "What's the weather like?")
    ]
    assert ('"NBest"' in results[0]["json"]) is detailed
    if mode == "continuous":
        assert named(records, "recognizing", "RecognizingSpeech")


@pytest.mark.parametrize("markup", ["text", "ssml"])
@pytest.mark.parametrize(
    "connect",
    ["host", "endpoint"],
    ids=["fromHost-tts-path", "fromEndpoint-full-path"],
)
def test_js_speech_synthesizer_gets_audio_and_word_and_punctuation_boundaries(
    node: str, emulator: Emulator, markup: str, connect: str
) -> None:
    text = "Guten Morgen, Steve, wie geht es dir?"
    spec: dict[str, Any] = {
        "kind": "synthesis",
        "key": emulator.scenario({}),
        "voice": "de-DE-KatjaNeural",
        "outputFormat": "Riff16Khz16BitMonoPcm",
    }
    if connect == "host":
        spec["host"] = emulator.url  # the SDK opens /tts/cognitiveservices/websocket/v1
    else:
        spec["endpoint"] = emulator.url + "/cognitiveservices/websocket/v1"
    if markup == "ssml":
        spec["ssml"] = (
            '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="de-DE">'
            f'<voice name="de-DE-KatjaNeural">{text}</voice></speak>'
        )
    else:
        spec["text"] = text
    records = run_js(node, spec)
    (result,) = named(records, "result")
    assert result["reason"] == "SynthesizingAudioCompleted", result["details"]
    audio = base64.b64decode(result["audio"])
    assert audio[:4] == b"RIFF" and len(audio) > 16_000  # over half a second of speech
    # As Azure: words without punctuation; each mark its own boundary, at its place in the input.
    boundaries = named(records, "word_boundary")
    assert [(w["text"], w["boundaryType"]) for w in boundaries] == [
        (token, "PunctuationBoundary" if token in ",?" else "WordBoundary")
        for token in ["Guten", "Morgen", ",", "Steve", ",", "wie", "geht", "es", "dir", "?"]
    ]
    offset = 0 if markup == "text" else spec["ssml"].index(text)
    assert [w["textOffset"] for w in boundaries] == [
        offset + m.start() for m in re.finditer(r"\w+|[,?]", text)
    ]
    assert sum(r["audioBytes"] for r in named(records, "synthesizing")) > 16_000


def test_js_mid_session_1011_delivers_every_utterance_exactly_once(
    node: str, emulator: Emulator, pcm_file: Any
) -> None:
    """The JavaScript SDK reconnects with the same X-ConnectionId and replays what was not
    acknowledged, like the Python SDK, but sends no ``continuation``: the service resumes from
    what it acknowledged on that connection id. It differs in one more way: it replays only
    while it is still sending, so the audio is paced here as a live source would be (the
    Python SDK replays even after its stream has closed)."""
    key = emulator.scenario(
        {**THREE, "faults": [{"after_phrase": 1, "close_code": 1011, "once": True}]}
    )
    records = run_js(
        node,
        {
            "kind": "translation",
            "host": emulator.url,
            "key": key,
            "targets": ["de"],
            "audio": pcm_file(),
            "paceMs": 25,  # 100 ms of audio every 25 ms
        },
    )
    finals = named(records, "recognized")
    _check_finals_match(finals, THREE["utterances"])
    assert [(c["reason"], c["code"]) for c in named(records, "canceled")] == [
        ("EndOfStream", "NoError")
    ]
    # The reconnect happened, without continuation, and resumed after the first final.
    resumed = re.findall(r"base (\d+) ms(?! \(continuation\))", emulator.running.log())
    assert "8000" in resumed


@pytest.mark.parametrize("credential", ["key", "token"])
@pytest.mark.usefixtures("browser_websocket")
def test_js_browser_websocket_path_sends_credentials_and_connection_id_in_the_query(
    node: str, emulator: Emulator, pcm_file: Any, credential: str
) -> None:
    """With a global WebSocket (browsers; Node with --experimental-websocket) the SDK cannot
    set headers: the key or token and X-ConnectionId travel as query parameters. A ``once``
    fault proves the connection id is read there: otherwise each reconnect would get a new
    id, the fault would fire on every one and the SDK would give up."""
    key = emulator.scenario(
        {**THREE, "faults": [{"after_phrase": 1, "close_code": 1011, "once": True}]}
    )
    records = run_js(
        node,
        {
            "kind": "translation",
            "host": emulator.url,
            credential: key,
            "targets": ["de"],
            "voice": "de-DE-KatjaNeural",
            "audio": pcm_file(),
            "paceMs": 25,
        },
        browser=True,
    )
    assert records[0]["websocket"] == "global", "the SDK did not take the browser code path"
    _check_finals_match(named(records, "recognized"), THREE["utterances"])
    assert len(named(records, "synthesizing", "SynthesizingAudioCompleted")) == 3
    assert [(c["reason"], c["code"]) for c in named(records, "canceled")] == [
        ("EndOfStream", "NoError")
    ]


@pytest.mark.usefixtures("browser_websocket")
def test_js_browser_websocket_path_synthesizes(node: str, emulator: Emulator) -> None:
    records = run_js(
        node,
        {
            "kind": "synthesis",
            "host": emulator.url,
            "key": emulator.scenario({}),
            "voice": "en-US-JennyNeural",
            "text": "Hello from the browser code path.",
        },
        browser=True,
    )
    assert records[0]["websocket"] == "global"
    (result,) = named(records, "result")
    assert result["reason"] == "SynthesizingAudioCompleted", result["details"]
    words = [w["text"] for w in named(records, "word_boundary")]
    assert words == ["Hello", "from", "the", "browser", "code", "path", "."]


def test_js_no_match_phrase_has_empty_text(node: str, emulator: Emulator, pcm_file: Any) -> None:
    scenario = {
        "utterances": [
            {"offset_ms": 200, "duration_ms": 900, "text": "-", "recognition_status": "NoMatch"},
            {
                "offset_ms": 1200,
                "duration_ms": 600,
                "text": "Weather.",
                "translations": {"de": "Wetter."},
            },
        ]
    }
    records = run_js(
        node,
        {
            "kind": "translation",
            "host": emulator.url,
            "key": emulator.scenario(scenario),
            "targets": ["de"],
            "audio": pcm_file(WEATHER_WAV),
        },
    )
    finals = named(records, "recognized")
    assert [(f["reason"], f["text"]) for f in finals] == [
        ("NoMatch", ""),
        ("TranslatedSpeech", "Weather."),
    ]
    assert finals[0]["noMatchReason"] == "NotRecognized"


def test_js_silence_gives_initial_silence_timeout(
    node: str, emulator: Emulator, pcm_file: Any
) -> None:
    """What the JavaScript SDK's own silence tests expect of the service: in once mode an
    InitialSilenceTimeout ending by the configured timeout, whose text the SDK leaves
    undefined (the service sends no DisplayText), and in continuous translation an empty
    successful phrase, text ``""`` ("Silence Then Speech" counts them as TranslatedSpeech)."""
    silence = pcm_file(pcm=bytes(32_000 * 8))
    once = run_js(
        node,
        {
            "kind": "speech",
            "mode": "once",
            "host": emulator.url,
            "key": emulator.scenario({}),
            "properties": {"SpeechServiceConnection_InitialSilenceTimeoutMs": "3000"},
            "audio": silence,
        },
    )
    (result,) = named(once, "result")
    assert (result["reason"], result["noMatchReason"]) == ("NoMatch", "InitialSilenceTimeout")
    assert result["text"] is None
    assert result["offset"] + result["duration"] <= 3_500 * TICKS_PER_MS

    continuous = run_js(
        node,
        {
            "kind": "translation",
            "host": emulator.url,
            "key": emulator.scenario({}),
            "audio": silence,
        },
    )
    (final,) = named(continuous, "recognized")  # 8 s: shorter than one initial timeout
    assert (final["reason"], final["text"]) == ("TranslatedSpeech", "")
    assert (final["offset"], final["duration"]) == (0, 8_000 * TICKS_PER_MS)


# The MathML test of the JavaScript SDK's own suite (testSpeechSynthesizerWordBoundaryMathXml):
# the text offsets it expects are Azure's, read off the real service by Microsoft.
MATH_SSML = (
    "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' "
    "xmlns:mstts='http://www.w3.org/2001/mstts' xmlns:emo='http://www.w3.org/2009/10/emotionml' "
    "xml:lang='en-US'>\n<voice name='en-US-JennyNeural'>This is an equation: "
    '<math xmlns="http://www.w3.org/1998/Math/MathML"><msqrt><mn>2</mn></msqrt></math>'
    "</voice></speak>"
)


def test_js_mathml_word_boundaries_at_azures_text_offsets(node: str, emulator: Emulator) -> None:
    records = run_js(
        node,
        {
            "kind": "synthesis",
            "host": emulator.url,
            "key": emulator.scenario({}),
            "ssml": MATH_SSML,
        },
    )
    (result,) = named(records, "result")
    assert result["reason"] == "SynthesizingAudioCompleted", result["details"]
    boundaries = named(records, "word_boundary")
    assert [b["textOffset"] for b in boundaries] == [206, 211, 214, 217, 225, 227]
    assert [b["boundaryType"] for b in boundaries] == [
        *["WordBoundary"] * 4,
        "PunctuationBoundary",
        "WordBoundary",
    ]


def test_js_bookmarks_and_svg_visemes(node: str, emulator: Emulator) -> None:
    ssml = (
        "<speak version='1.0' xml:lang='en-US' xmlns='http://www.w3.org/2001/10/synthesis' "
        "xmlns:mstts='http://www.w3.org/2001/mstts'><voice name='en-US-GuyNeural'>"
        "<mstts:viseme type='svg'/><bookmark mark='bookmark'/> one. <bookmark mark='书签'/> two."
        "</voice></speak>"
    )
    spec = {"kind": "synthesis", "host": emulator.url, "key": emulator.scenario({}), "ssml": ssml}
    records = run_js(node, {**spec, "bookmarks": True, "visemes": True})
    (result,) = named(records, "result")
    assert result["reason"] == "SynthesizingAudioCompleted", result["details"]
    words = {w["text"]: w["offset"] for w in named(records, "word_boundary")}
    marks = named(records, "bookmark")
    assert [(m["text"], m["offset"]) for m in marks] == [
        ("bookmark", words["one"]),
        ("书签", words["two"]),
    ]
    visemes = named(records, "viseme")
    assert len(visemes) > 4 and all(v["animation"].startswith("<svg") for v in visemes)
    assert [v["offset"] for v in visemes] == sorted(v["offset"] for v in visemes)
    # Handlers not connected: the SDK does not ask, the service does not send.
    quiet = run_js(node, spec)
    assert not named(quiet, "bookmark") and not named(quiet, "viseme")


def test_js_text_stream_gets_audio_before_the_stream_closes(node: str, emulator: Emulator) -> None:
    pieces = ["This is the first sentence. ", "Here comes ", "the second one."]
    records = run_js(
        node,
        {
            "kind": "synthesis",
            "endpoint": emulator.url + "/cognitiveservices/websocket/v2",
            "key": emulator.scenario({}),
            "voice": "en-US-AvaMultilingualNeural",
            "outputFormat": "Riff16Khz16BitMonoPcm",
            "pieces": [[50, piece] for piece in pieces],
            "closeAfterAudio": True,
            "timeoutMs": 30000,
        },
    )
    (result,) = named(records, "result")
    assert result["reason"] == "SynthesizingAudioCompleted", result["details"]
    names = [r["name"] for r in records]
    assert names.index("synthesizing") < names.index("stream_closed")
    words = [w["text"] for w in named(records, "word_boundary")]
    assert words == [
        "This",
        "is",
        "the",
        "first",
        "sentence",
        ".",
        "Here",
        "comes",
        "the",
        "second",
        "one",
        ".",
    ]
    audio = base64.b64decode(result["audio"])
    assert audio[:4] == b"RIFF" and audio.count(b"RIFF") == 1 and len(audio) > 32_000


def test_js_voices_list_tags_and_key_check(node: str, emulator: Emulator) -> None:
    # An http: host: the SDK fetches the list with that URL, and the ws package opens
    # WebSockets from http: URLs too (a ws: host makes the fetch fail: "Unknown encoding").
    host = emulator.url.replace("ws://", "http://")
    spec = {"kind": "voices", "host": host, "locale": "en-US"}
    (listed,) = named(run_js(node, {**spec, "key": emulator.scenario({})}), "voices")
    assert listed["reason"] == "VoicesListRetrieved"
    ava = next(v for v in listed["voices"] if v["shortName"] == "en-US-AvaNeural")
    # The JS SDK's testGetVoicesAsyncUS, against Azure.
    assert ava["voiceTag"]["TailoredScenarios"][0] == "Chat"
    assert (ava["gender"], ava["voiceType"]) == ("Female", "OnlineNeural")
    assert {v["locale"] for v in listed["voices"]} == {"en-US"}
    (refused,) = named(run_js(node, {**spec, "key": "not-a-known-key"}), "voices")
    assert refused["reason"] == "Canceled" and "401" in refused["details"]
