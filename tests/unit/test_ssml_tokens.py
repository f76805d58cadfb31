"""What a synthesis request says, token by token (shim.emulator.ssml)."""

from __future__ import annotations

import pytest

from shim.emulator import ssml

pytestmark = [pytest.mark.unit]

SPEAK = "<speak version='1.0' xml:lang='en-US' xmlns='http://www.w3.org/2001/10/synthesis' xmlns:mstts='http://www.w3.org/2001/mstts'>"


def test_words_keep_inner_apostrophes_hyphens_and_dots_and_lose_their_punctuation() -> None:
    assert ssml.tokenize("What's the e-mail, Mr. Smith? 3.14!") == [
        ("word", "What's"),
        ("word", "the"),
        ("word", "e-mail"),
        ("punctuation", ","),
        ("word", "Mr"),
        ("punctuation", "."),
        ("word", "Smith"),
        ("punctuation", "?"),
        ("word", "3.14"),
        ("punctuation", "!"),
    ]


def test_combining_marks_stay_inside_their_word() -> None:
    assert ssml.tokenize("नमस्ते दुनिया।") == [
        ("word", "नमस्ते"),
        ("word", "दुनिया"),
        ("punctuation", "।"),
    ]


def test_bookmarks_sentences_and_voice_come_from_the_ssml() -> None:
    request = ssml.parse_ssml(
        SPEAK + "<voice name='de-DE-KatjaNeural'><bookmark mark='a'/>Eins. <bookmark mark='b'/>"
        "Zwei!</voice></speak>"
    )
    assert [(t.kind, t.text, t.sentence) for t in request.tokens] == [
        ("bookmark", "a", 0),
        ("word", "Eins", 0),
        ("punctuation", ".", 0),
        ("bookmark", "b", 1),
        ("word", "Zwei", 1),
        ("punctuation", "!", 1),
    ]
    assert (request.language, request.voice) == ("de-DE", "de-DE-KatjaNeural")
    assert request.spoken_text == "Eins. Zwei!"
    assert request.sentences() == [(0, "Eins."), (1, "Zwei!")]


def test_mathml_keeps_its_source_and_is_read_in_words() -> None:
    math = (
        '<math xmlns="http://www.w3.org/1998/Math/MathML"><mfrac><mi>x</mi>'
        "<msup><mi>y</mi><mn>2</mn></msup></mfrac><mo>=</mo><msqrt><mn>2</mn></msqrt></math>"
    )
    request = ssml.parse_ssml(SPEAK + f"<voice name='en-US-JennyNeural'>So {math}</voice></speak>")
    (word, formula) = request.tokens
    assert (formula.kind, formula.text) == ("math", math)
    assert formula.spoken == "x over y squared equals the square root of 2"
    assert request.spoken_text == "So x over y squared equals the square root of 2"
    assert word.text == "So"


def test_viseme_kind_is_read_and_elements_without_speech_say_nothing() -> None:
    request = ssml.parse_ssml(
        SPEAK + "<voice name='en-US-JennyNeural'><mstts:viseme type='FacialExpression'/>"
        "Hi<break time='200ms'/> there.</voice></speak>"
    )
    assert request.viseme_type == "FacialExpression"
    assert request.spoken_text == "Hi there."


def test_bad_ssml_is_refused() -> None:
    with pytest.raises(ssml.SsmlError, match="does not parse"):
        ssml.parse_ssml("<speak>unclosed")


@pytest.mark.parametrize(
    ("text", "ready"),
    [
        ("Hello world", 0),
        ("Hello world.", 0),  # the sentence may go on ("world.com"): wait for more
        ("Hello world. How", 12),
        ("One. Two! Three? Fo", 16),
        ("你好。 世界", 3),
    ],
)
def test_a_text_stream_speaks_up_to_the_last_complete_sentence(text: str, ready: int) -> None:
    assert ssml.complete_sentences(text) == ready


def test_long_requests_are_spoken_in_parts_of_whole_sentences() -> None:
    request = ssml.parse_text("One two. Three four five. " + "x " * 30 + "end.", "en-US")
    parts = request.parts(20)
    assert [p.spoken_text for p in parts[:2]] == ["One two.", "Three four five."]
    assert all(len(p.spoken_text) <= 20 for p in parts)
    assert [t for p in parts for t in p.tokens] == list(request.tokens)  # nothing lost
