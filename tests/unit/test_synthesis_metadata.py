"""The audio.metadata items of a synthesis (shim.emulator.synthesis_metadata)."""

from __future__ import annotations

import pytest

from shim.emulator import ssml
from shim.emulator.synthesis_metadata import Options, Span, options_from, timeline, visemes_of

pytestmark = [pytest.mark.unit]

SECOND = 10_000_000
EVERYTHING = Options(word=True, punctuation=True, sentence=True, bookmark=True, viseme=True)


def _kinds(items: list[dict[str, object]]) -> list[tuple[str, object]]:
    out = []
    for item in items:
        data = item["Data"]
        assert isinstance(data, dict)
        text = data.get("text", {}).get("Text") if "text" in data else data.get("Bookmark")
        out.append((str(item["Type"]), text))
    return out


def test_metadata_options_follow_the_sdks_flags_strings_or_booleans() -> None:
    js = {
        "synthesis": {
            "audio": {
                "metadataOptions": {
                    "bookmarkEnabled": False,
                    "wordBoundaryEnabled": "true",
                    "punctuationBoundaryEnabled": "false",
                    "sentenceBoundaryEnabled": "true",
                    "visemeEnabled": True,
                    "sessionEndEnabled": True,
                }
            }
        }
    }
    assert options_from(js) == Options(
        word=True, punctuation=False, sentence=True, bookmark=False, viseme=True
    )
    word_only = {"synthesis": {"audio": {"metadataOptions": {"wordBoundaryEnabled": True}}}}
    assert options_from(word_only).punctuation  # follows word boundaries unless set
    assert options_from({}) == Options()  # an old client: words, punctuation, bookmarks
    assert options_from("garbage") == Options()


def test_engine_word_timings_are_used_when_they_match_the_spoken_words() -> None:
    request = ssml.parse_text("Hello, world.", "en-US")
    engine = [Span(1000, 4000), Span(9000, 5000)]
    items = timeline(request, Options(), engine, 20_000)
    assert [(i["Data"]["Offset"], i["Data"]["Duration"]) for i in items] == [
        (1000, 4000),  # Hello
        (5000, 0),  # , at the end of the word before it
        (9000, 5000),  # world
        (14000, 0),  # .
    ]
    assert [i["Data"]["text"]["BoundaryType"] for i in items] == [
        "WordBoundary",
        "PunctuationBoundary",
        "WordBoundary",
        "PunctuationBoundary",
    ]


def test_without_matching_engine_timings_words_share_the_audio_by_length() -> None:
    request = ssml.parse_text("a bbb", "en-US")
    items = timeline(request, Options(), [], 6 * SECOND)
    assert [(i["Data"]["Offset"], i["Data"]["Duration"]) for i in items] == [
        (0, 2 * SECOND),
        (2 * SECOND, 4 * SECOND),
    ]


def test_bookmarks_sit_at_the_next_word_and_sentences_span_their_words() -> None:
    request = ssml.parse_ssml(
        "<speak xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>"
        "<bookmark mark='start'/>One two. Three<bookmark mark='end'/></speak>"
    )
    items = timeline(request, EVERYTHING, [], 3 * SECOND, base=SECOND)
    non_visemes = [i for i in items if i["Type"] != "Viseme"]
    assert _kinds(non_visemes) == [  # at one offset: in the order of the input
        ("Bookmark", "start"),
        ("SentenceBoundary", "One two."),
        ("WordBoundary", "One"),
        ("WordBoundary", "two"),
        ("WordBoundary", "."),
        ("SentenceBoundary", "Three"),
        ("WordBoundary", "Three"),
        ("Bookmark", "end"),
    ]
    assert non_visemes[0]["Data"]["Offset"] == SECOND  # this audio starts a second in
    assert non_visemes[-1]["Data"]["Offset"] == 4 * SECOND  # after the last word: the end


def test_only_what_was_asked_for_is_sent() -> None:
    request = ssml.parse_ssml(
        "<speak xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>"
        "<bookmark mark='b'/>Hi.</speak>"
    )
    none = Options(word=False, punctuation=False, bookmark=False)
    assert timeline(request, none, [], SECOND) == []
    bookmarks = Options(word=False, punctuation=False, bookmark=True)
    assert _kinds(timeline(request, bookmarks, [], SECOND)) == [("Bookmark", "b")]


def test_visemes_span_the_audio_with_silence_at_both_ends() -> None:
    request = ssml.parse_text("mama", "en-US")
    items = timeline(request, Options(word=False, viseme=True), [Span(0, SECOND)], SECOND)
    ids = [i["Data"]["VisemeId"] for i in items]
    assert ids[0] == 0 and ids[-1] == 0 and ids[1:-1] == visemes_of("mama") == [21, 2, 21, 2]
    assert all(i["Data"]["IsLastAnimation"] for i in items)  # the JS SDK fires on these
    assert "AnimationChunk" not in items[1]["Data"]


def test_facial_expression_frames_count_up_at_sixty_a_second() -> None:
    request = ssml.parse_ssml(
        "<speak xmlns='http://www.w3.org/2001/10/synthesis' "
        "xmlns:mstts='http://www.w3.org/2001/mstts' xml:lang='en-US'>"
        "<mstts:viseme type='FacialExpression'/>Hi</speak>"
    )
    items = timeline(request, Options(word=False, viseme=True), [Span(0, SECOND)], SECOND)
    import json

    frames = [json.loads(i["Data"]["AnimationChunk"]) for i in items]
    assert [f["FrameIndex"] for f in frames] == sorted({f["FrameIndex"] for f in frames})
    assert sum(len(f["BlendShapes"]) for f in frames[:-1]) == pytest.approx(60, abs=3)
    assert {len(shape) for f in frames for shape in f["BlendShapes"]} == {55}
