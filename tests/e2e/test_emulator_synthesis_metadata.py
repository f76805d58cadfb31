"""The Python Speech SDK's synthesis against the local Speech service (scripted engine): the
metadata Azure sends (bookmarks, visemes, word/punctuation/sentence boundaries, MathML),
text streaming on /cognitiveservices/websocket/v2, and the voices list's key check.

What Azure does here was read from the SDKs' own tests (JS SDK v1.51 SpeechSynthesisTests:
testSpeechSynthesizerBookmark, ...Viseme, ...WordBoundaryMathXml, the text streaming tests,
testGetVoicesAsyncAuthError) and from the messages the SDKs send; docs/local-speech-service.md
("Fidelity") lists it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support.processes import Emulator

pytestmark = [pytest.mark.e2e]

SPEAK = "<speak version='1.0' xml:lang='en-US' xmlns='http://www.w3.org/2001/10/synthesis' xmlns:mstts='http://www.w3.org/2001/mstts'>"
BOOKMARKS = (
    SPEAK + "<voice name='en-US-GuyNeural'><bookmark mark='bookmark'/> one. "
    "<bookmark mark='书签'/> two. three. four.</voice></speak>"
)
MATH = (
    SPEAK + "<voice name='en-US-JennyNeural'>This is an equation: "
    '<math xmlns="http://www.w3.org/1998/Math/MathML"><msqrt><mn>2</mn></msqrt></math>'
    "</voice></speak>"
)


class Collected:
    """Every synthesis event of one synthesizer, in arrival order. Events can arrive after
    the future returns (usp-speech-service.md §10): ``settled`` waits for the turn's last
    event, ``synthesis_completed`` (or ``synthesis_canceled``), which comes after them."""

    def __init__(self, synthesizer: speechsdk.SpeechSynthesizer) -> None:
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        synthesizer.synthesis_word_boundary.connect(lambda e: self._add("word", e))
        synthesizer.bookmark_reached.connect(lambda e: self._add("bookmark", e))
        synthesizer.viseme_received.connect(lambda e: self._add("viseme", e))
        synthesizer.synthesis_completed.connect(lambda e: self.done.set())
        synthesizer.synthesis_canceled.connect(lambda e: self.done.set())

    def settled(self, result: speechsdk.SpeechSynthesisResult) -> speechsdk.SpeechSynthesisResult:
        assert self.done.wait(30), "no synthesis_completed event"
        self.done.clear()
        return result

    def _add(self, kind: str, event: Any) -> None:
        with self.lock:
            self.events.append((kind, event))

    def of(self, kind: str) -> list[Any]:
        with self.lock:
            return [e for k, e in self.events if k == kind]


def _synthesizer(
    emulator: Emulator, **properties: str
) -> tuple[speechsdk.SpeechSynthesizer, Collected]:
    config = speechsdk.SpeechConfig(host=emulator.url, subscription=emulator.scenario({}))
    for name, value in properties.items():
        config.set_property(getattr(speechsdk.PropertyId, name), value)
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    return synthesizer, Collected(synthesizer)


def _completed(result: speechsdk.SpeechSynthesisResult) -> None:
    details = result.cancellation_details.error_details if result.cancellation_details else ""
    assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted, details


def test_bookmarks_arrive_in_order_at_the_word_they_mark(emulator: Emulator) -> None:
    synthesizer, events = _synthesizer(emulator)
    result = events.settled(synthesizer.speak_ssml_async(BOOKMARKS).get())
    _completed(result)
    marks = events.of("bookmark")
    words = {w.text: w for w in events.of("word")}
    assert [m.text for m in marks] == ["bookmark", "书签"]
    assert [m.audio_offset for m in marks] == [words["one"].audio_offset, words["two"].audio_offset]
    assert 0 < marks[1].audio_offset < result.audio_duration.total_seconds() * 10_000_000


def test_word_and_punctuation_boundaries_point_into_the_ssml(emulator: Emulator) -> None:
    synthesizer, events = _synthesizer(emulator)
    _completed(events.settled(synthesizer.speak_ssml_async(BOOKMARKS).get()))
    words = events.of("word")
    assert [(w.text, w.boundary_type.name) for w in words] == [
        (text, "Punctuation" if text == "." else "Word")
        for text in ["one", ".", "two", ".", "three", ".", "four", "."]
    ]
    for word in words:
        assert BOOKMARKS[word.text_offset : word.text_offset + word.word_length] == word.text
    offsets = [w.audio_offset for w in words]
    assert offsets == sorted(offsets)


def test_mathml_is_read_out_and_reported_as_one_word_boundary(emulator: Emulator) -> None:
    synthesizer, events = _synthesizer(emulator)
    with_math = events.settled(synthesizer.speak_ssml_async(MATH).get())
    _completed(with_math)
    boundaries = [(w.text, w.boundary_type.name, w.text_offset) for w in events.of("word")]
    math = MATH[MATH.index("<math") : MATH.index("</math>") + len("</math>")]
    # The JS SDK's testSpeechSynthesizerWordBoundaryMathXml: Word, Word, Word, Word,
    # Punctuation, Word, the last one the <math> element at its place in the SSML.
    assert [b[:2] for b in boundaries] == [
        ("This", "Word"),
        ("is", "Word"),
        ("an", "Word"),
        ("equation", "Word"),
        (":", "Punctuation"),
        (math, "Word"),
    ]
    assert boundaries[-1][2] == MATH.index("<math")
    without_math = synthesizer.speak_ssml_async(MATH.replace(math, "")).get()
    assert with_math.audio_duration > without_math.audio_duration  # "the square root of 2"


def test_sentence_boundaries_only_when_requested(emulator: Emulator) -> None:
    synthesizer, events = _synthesizer(emulator)
    _completed(events.settled(synthesizer.speak_ssml_async(BOOKMARKS).get()))
    assert not [w for w in events.of("word") if w.boundary_type.name == "Sentence"]

    synthesizer, events = _synthesizer(
        emulator, SpeechServiceResponse_RequestSentenceBoundary="true"
    )
    _completed(events.settled(synthesizer.speak_ssml_async(BOOKMARKS).get()))
    sentences = [w for w in events.of("word") if w.boundary_type.name == "Sentence"]
    assert [s.text for s in sentences] == ["one.", "two.", "three.", "four."]
    words = [w for w in events.of("word") if w.boundary_type.name == "Word"]
    assert [s.audio_offset for s in sentences] == [w.audio_offset for w in words]


@pytest.mark.parametrize("kind", [None, "svg", "redlips_front", "FacialExpression"])
def test_visemes_follow_the_speech(emulator: Emulator, kind: str | None) -> None:
    synthesizer, events = _synthesizer(emulator)
    viseme = f"<mstts:viseme type='{kind}'/>" if kind else ""
    ssml = (
        SPEAK + f"<voice name='en-US-JennyNeural'>{viseme}I want to avoid monotony.</voice></speak>"
    )
    result = events.settled(synthesizer.speak_ssml_async(ssml).get())
    _completed(result)
    visemes = events.of("viseme")
    assert len(visemes) > len(["I", "want", "to", "avoid", "monotony"])
    offsets = [v.audio_offset for v in visemes]
    assert offsets == sorted(offsets)
    assert offsets[-1] <= result.audio_duration.total_seconds() * 10_000_000 + 10_000  # ms
    if kind == "FacialExpression":
        frames = [json.loads(v.animation) for v in visemes]
        assert all(len(shape) == 55 for f in frames for shape in f["BlendShapes"])
        indexes = [f["FrameIndex"] for f in frames]
        assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    elif kind:
        assert all(v.animation.startswith("<svg") for v in visemes)
        assert {v.viseme_id for v in visemes} <= set(range(22)) and len(
            {v.viseme_id for v in visemes}
        ) > 3
    else:
        assert all(v.animation == "" for v in visemes)


def _text_stream(
    emulator: Emulator, path: str, pieces: list[str]
) -> tuple[speechsdk.SpeechSynthesisResult, list[Any], bool]:
    """Speak a TextStream request: the first piece, then (once audio came back, or after
    30 s) the rest and the close. Returns the result, word boundaries, and whether audio
    arrived before the stream was closed."""
    config = speechsdk.SpeechConfig(
        endpoint=emulator.url + path, subscription=emulator.scenario({})
    )
    config.speech_synthesis_voice_name = "en-US-AvaMultilingualNeural"
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    events = Collected(synthesizer)
    audio_early = threading.Event()
    heard = threading.Event()  # audio, or the end of the turn (a refusal)
    synthesizer.synthesizing.connect(lambda e: (audio_early.set(), heard.set()))
    synthesizer.synthesis_canceled.connect(lambda e: heard.set())
    request = speechsdk.SpeechSynthesisRequest(
        input_type=speechsdk.SpeechSynthesisRequestInputType.TextStream
    )
    task = synthesizer.speak_async(request)
    request.input_stream.write(pieces[0])
    heard.wait(30)  # the first sentence is complete: its audio may come now
    early = audio_early.is_set()
    for piece in pieces[1:]:
        request.input_stream.write(piece)
    request.input_stream.close()
    result = events.settled(task.get())
    return result, events.of("word"), early


def test_text_stream_speaks_each_sentence_as_it_arrives(emulator: Emulator) -> None:
    result, words, early = _text_stream(
        emulator,
        "/cognitiveservices/websocket/v2",
        ["This is the first sentence. ", "Here comes ", "the second", " one."],
    )
    _completed(result)
    assert early, "no audio before the text stream was closed"
    assert [w.text for w in words if w.boundary_type.name == "Word"] == (
        ["This", "is", "the", "first", "sentence", "Here", "comes", "the", "second", "one"]
    )
    offsets = [w.audio_offset for w in words]
    assert offsets == sorted(offsets)
    assert len(result.audio_data) > 32_000  # both sentences: over a second of speech


def test_text_stream_on_v1_is_refused(emulator: Emulator) -> None:
    result, _, _ = _text_stream(emulator, "/cognitiveservices/websocket/v1", ["Hello there. "])
    assert result.reason == speechsdk.ResultReason.Canceled
    assert "/cognitiveservices/websocket/v2" in result.cancellation_details.error_details


def test_voices_list_refuses_the_keys_the_socket_refuses(emulator: Emulator) -> None:
    for key, expected in ((emulator.scenario({}), True), ("no-such-key", False)):
        config = speechsdk.SpeechConfig(host=emulator.url, subscription=key)
        synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        voices = synthesizer.get_voices_async("en-US").get()
        spoken = synthesizer.speak_text_async("Hello.").get()
        assert (voices.reason == speechsdk.ResultReason.VoicesListRetrieved) is expected
        assert (spoken.reason == speechsdk.ResultReason.SynthesizingAudioCompleted) is expected
        if not expected:
            assert "401" in voices.error_details
        else:
            assert {v.short_name for v in voices.voices} >= {"en-US-AvaNeural"}
            assert all(v.locale == "en-US" for v in voices.voices)


def test_viseme_offsets_stay_within_the_words(emulator: Emulator) -> None:
    synthesizer, events = _synthesizer(emulator)
    _completed(events.settled(synthesizer.speak_text_async("Hello wonderful world").get()))
    spans = [
        (w.audio_offset, w.audio_offset + int(w.duration.total_seconds() * 10_000_000))
        for w in events.of("word")
    ]
    inner = [v.audio_offset for v in events.of("viseme")][1:-1]  # not the silences at the ends
    assert inner and all(any(a - 1 <= v <= b + 1 for a, b in spans) for v in inner)


def test_long_text_is_spoken_in_parts_with_offsets_running_on(emulator: Emulator) -> None:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank today. "
    text = sentence * 40  # about 2,800 characters: two parts of whole sentences
    synthesizer, events = _synthesizer(emulator)
    result = events.settled(synthesizer.speak_text_async(text).get())
    _completed(result)
    words = [w for w in events.of("word") if w.boundary_type.name == "Word"]
    assert len(words) == 40 * len(sentence.split())
    offsets = [w.audio_offset for w in words]
    assert offsets == sorted(set(offsets))
    assert offsets[-1] < result.audio_duration.total_seconds() * 10_000_000
    assert [w.text_offset for w in words[:3]] == [0, 4, 10]


def test_overlong_ssml_is_refused_with_a_reason(emulator: Emulator) -> None:
    synthesizer, events = _synthesizer(emulator)
    ssml = SPEAK + "<voice name='en-US-JennyNeural'>" + "word " * 14_000 + "</voice></speak>"
    result = events.settled(synthesizer.speak_ssml_async(ssml).get())
    assert result.reason == speechsdk.ResultReason.Canceled
    assert "longer than 65536 characters" in result.cancellation_details.error_details
