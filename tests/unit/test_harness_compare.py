"""compare's parts: word diffs and WER, ignore paths, time alignment, field differences."""

from __future__ import annotations

import pytest
from websockets.frames import Opcode

from shim.harness.checks import audiocheck
from shim.harness.compare.align import align_by_text, align_by_time
from shim.harness.compare.comparison import DEFAULT_IGNORES, compare
from shim.harness.compare.jsonpaths import IgnoreList, PathError, compile_path, flatten
from shim.harness.compare.sides import SideUtterance, read_side
from shim.harness.compare.textdiff import diff, similarity
from shim.harness.recordings.recording import Recording
from shim.harness.reports.compare_report import html_report, html_words
from tests.support.legacy_sessions import audio, close, result, session, timing, tts, url, wav

pytestmark = pytest.mark.unit


def test_word_diff_ignores_case_and_punctuation_and_counts_wer() -> None:
    same = diff("Turn on the lamp.", "turn on the lamp")
    assert same.errors == 0 and same.wer == 0.0 and not same.identical
    changed = diff("to inspect the quality", "to check the quality now")
    assert [(op.kind, op.a, op.b) for op in changed.ops] == [
        ("equal", "to", "to"),
        ("sub", "inspect", "check"),
        ("equal", "the", "the"),
        ("equal", "quality", "quality"),
        ("ins", None, "now"),
    ]
    assert changed.wer == 2 / 4
    assert diff("", "").wer == 0.0 and diff("", "word").wer == 1.0
    assert html_words(changed, "a") == "to <del>inspect</del> the quality"
    assert html_words(changed, "b") == "to <ins>check</ins> the quality <ins>now</ins>"


@pytest.mark.parametrize(
    ("pattern", "path", "ignored"),
    [
        ("$..id", "$.utterances[3].final.id", True),
        ("$..id", "$.utterances[3].final.identity", False),
        ("$.utterances[*].tts.sha256", "$.utterances[0].tts.sha256", True),
        ("$.utterances[1].tts", "$.utterances[1].tts.duration", True),
        ("$.utterances[1].tts", "$.utterances[10].tts.duration", False),
        ("$.handshake.headers", "$.handshake.headers.x-requestid", True),
        ("$.handshake.*.date", "$.handshake.headers.date", True),
        ("$['close'].reason", "$.close.reason", True),
        ("$.close.reason", "$.close.code", False),
    ],
)
def test_ignore_paths(pattern: str, path: str, ignored: bool) -> None:
    assert IgnoreList([pattern]).ignored(path) is ignored


def test_bad_paths_are_rejected_and_documents_flatten_to_paths() -> None:
    for bad in ("utterances", "$.a[", "$.a..", "$.a[x]"):
        with pytest.raises(PathError):
            compile_path(bad)
    assert flatten({"a": [{"b": 1}, []], "c": {}}) == {"$.a[0].b": 1, "$.a[1]": [], "$.c": {}}


def _recording(
    texts: list[tuple[str, int, int]], *, with_timing: bool = True, pause: int = 0
) -> Recording:
    """Finals of ``texts`` with their TTS; ``pause`` audio frames (10 ms each) before each
    final spread the arrival times like a client sending at real time."""
    frames = [*audio()]
    for index, (text, start, duration) in enumerate(texts):
        extra = timing(start, duration) if with_timing else {}
        frames += [*audio(3_200)[1:] * pause]
        frames += [result("final", str(index), text, f"[de] {text}", **extra), *tts()]
    features = "texttospeech,timinginfo" if with_timing else "texttospeech"
    return session([*frames, close("out"), close("in")], session_url=url(features))


def test_alignment_by_time_leaves_a_gap_for_an_extra_utterance() -> None:
    a = read_side(
        "A", "a", _recording([("one", 0, 1000), ("two", 2000, 1000), ("three", 4000, 1000)])
    )
    b = read_side("B", "b", _recording([("one", 40, 1000), ("three", 4010, 990)]))
    pairs = align_by_time(a.utterances, b.utterances, tolerance=0.25)
    assert [
        (p[0].recognition if p[0] else None, p[1].recognition if p[1] else None) for p in pairs
    ] == [
        ("one", "one"),
        ("two", None),
        ("three", "three"),
    ]
    comparison = compare(a, b)
    assert comparison.recognition_wer == 1 / 3  # "two" is missing: one deleted word of three
    assert [d.path for d in comparison.differences] == ["$.utterances[1]"]
    assert abs((comparison.pairs[0].start_delta or 0) - 0.04) < 1e-9  # jitter, not a difference


def test_timing_beyond_the_tolerance_and_text_changes_are_differences() -> None:
    a = read_side("A", "a", _recording([("hello there", 0, 1000)]))
    b = read_side("B", "b", _recording([("hello where", 400, 1000)]))
    comparison = compare(a, b, tolerance_ms=250)
    paths = {d.path for d in comparison.differences}
    assert paths == {
        "$.utterances[0].final.recognition",
        "$.utterances[0].final.translation",
        "$.utterances[0].final.audioTimeOffset",
        "$.utterances[0].final.audioStreamPosition",
    }
    loose = compare(a, b, tolerance_ms=500, ignores=[*DEFAULT_IGNORES, "$..translation"])
    assert {d.path for d in loose.differences} == {"$.utterances[0].final.recognition"}


def _texts(pairs: list[tuple[SideUtterance | None, SideUtterance | None]]) -> list[tuple]:
    return [(a.recognition if a else None, b.recognition if b else None) for a, b in pairs]


def test_without_timing_info_utterances_pair_by_order_and_the_report_is_self_contained() -> None:
    a = read_side("A", "a.jsonl", _recording([("one", 0, 0), ("two", 0, 0)], with_timing=False))
    b = read_side("B", "ws://x", _recording([("one", 0, 0), ("too", 0, 0)], with_timing=False))
    comparison = compare(a, b)
    assert not comparison.audio_time
    assert _texts([(p.a, p.b) for p in comparison.pairs]) == [("one", "one"), ("two", "too")]
    html = html_report(comparison)
    assert '<svg id="timeline"' in html and "<del>two</del>" in html and "<ins>too</ins>" in html
    assert "paired by order and text" in html
    assert "Content-Security-Policy" in html and "<script" not in html


SESSION = [
    ("And so, my fellow Americans,", 0, 0),
    ("ask not what your country can do for you,", 0, 0),
    ("ask what you can do for your country.", 0, 0),
]


def test_without_timing_a_burst_and_a_realtime_session_pair_one_to_one() -> None:
    burst = read_side("A", "burst", _recording(SESSION, with_timing=False))
    realtime = read_side("B", "realtime", _recording(SESSION, with_timing=False, pause=150))
    assert realtime.utterances[2].arrival - burst.utterances[2].arrival > 4  # seconds apart
    comparison = compare(burst, realtime)
    assert _texts([(p.a, p.b) for p in comparison.pairs]) == [(t, t) for t, _, _ in SESSION]
    assert comparison.identical and comparison.recognition_wer == 0.0


def test_without_timing_a_missing_utterance_is_a_gap_found_by_its_text() -> None:
    full = read_side("A", "a", _recording(SESSION, with_timing=False, pause=150))
    missing = read_side("B", "b", _recording([SESSION[0], SESSION[2]], with_timing=False))
    pairs = align_by_text(full.utterances, missing.utterances)
    texts = [t for t, _, _ in SESSION]
    assert _texts(pairs) == [(texts[0], texts[0]), (texts[1], None), (texts[2], texts[2])]
    extra = align_by_text(missing.utterances, full.utterances)
    assert _texts(extra) == [(texts[0], texts[0]), (None, texts[1]), (texts[2], texts[2])]


def test_timing_on_one_side_only_pairs_by_text_on_the_arrival_timeline() -> None:
    timed = [("one two", 0, 1000), ("three four", 60_000, 1000)]  # a minute apart
    a = read_side("A", "a", _recording(timed))
    b = read_side("B", "b", _recording(timed, with_timing=False))
    assert a.audio_time and not b.audio_time
    comparison = compare(a, b)
    assert not comparison.audio_time and len(comparison.pairs) == 2
    assert all(p.a and p.b for p in comparison.pairs)
    assert comparison.pairs[1].a is not None and comparison.pairs[1].a.start < 1  # arrival


def test_text_similarity_ignores_case_and_punctuation() -> None:
    assert similarity("Turn on the lamp.", "turn on the lamp") == 1.0
    assert similarity("turn on the lamp", "turn off the lamp") == 0.75
    assert similarity("", "") == 1.0 and similarity("lamp", "") == 0.0


def test_the_report_escapes_what_the_server_and_the_user_sent() -> None:
    hostile = "<script>alert('x')</script> & more"
    a = read_side("A", "a.jsonl", _recording([("lamp on", 0, 1000)]))
    b = read_side("B", 'ws://x/?q="><img src=x>', _recording([(hostile, 0, 1000)]))
    html = html_report(compare(a, b))
    assert "<script" not in html and "<img" not in html
    assert "<ins>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</ins>" in html  # word diff
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html  # differences
    assert "ws://x/?q=&#34;&gt;&lt;img src=x&gt;" in html  # the source URL


def test_tts_durations_from_wav_and_mp3_headers() -> None:
    assert audiocheck.duration_seconds(wav(16_000), len(wav(16_000))) == 1.0
    frame = b"\xff\xfb\x90\x64"  # MPEG-1 Layer III, 128 kbit/s
    assert audiocheck.duration_seconds(frame + bytes(16_000 - 4), 16_000) == 1.0
    assert audiocheck.is_mp3(b"ID3\x04") and not audiocheck.is_mp3(wav())
    assert audiocheck.wav_problems(wav(), len(wav())) == []
    assert "RIFF size" in audiocheck.wav_problems(wav(), len(wav()) + 2)[0]
    stereo = bytearray(wav())
    stereo[22] = 2
    assert "expected PCM mono" in audiocheck.wav_problems(bytes(stereo), len(stereo))[0]


def test_binary_frames_of_tts_are_reassembled_for_durations() -> None:
    recording = _recording([("one", 0, 1000)])
    side = read_side("A", "a", recording)
    assert side.utterances[0].tts == {
        "format": "wav",
        "size": len(wav()),
        "duration": 0.1,
        "sha256": side.utterances[0].tts["sha256"] if side.utterances[0].tts else None,
    }
    assert any(f.opcode is Opcode.CONT for f in recording.frames)
