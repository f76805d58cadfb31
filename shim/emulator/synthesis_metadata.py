"""The ``audio.metadata`` of a synthesis (sans-I/O): word, punctuation and sentence
boundaries, bookmarks and visemes, each at its audio offset, as the SDKs read them.

Shapes (the JavaScript SDK's ``SynthesisAudioMetadata`` and ``SynthesisAdapterBase``; the
Python SDK reads the same):

* ``{"Type": "WordBoundary" | "SentenceBoundary", "Data": {"Offset", "Duration", "text":
  {"Text", "Length", "BoundaryType": "WordBoundary" | "PunctuationBoundary" |
  "SentenceBoundary"}}}``; punctuation comes as a ``WordBoundary`` item whose
  ``BoundaryType`` is ``PunctuationBoundary`` (the SDKs' ``boundary_type`` Punctuation);
* ``{"Type": "Bookmark", "Data": {"Offset", "Bookmark"}}``;
* ``{"Type": "Viseme", "Data": {"Offset", "VisemeId", "IsLastAnimation", "AnimationChunk"}}``:
  the JavaScript SDK raises its event only on an item with ``IsLastAnimation`` true, joining
  the chunks before it, so a plain viseme (no animation asked for) carries true and an empty
  chunk.

Which kinds are sent follows the client's ``synthesis.context`` ``metadataOptions`` (both
SDKs turn them on when an event handler is connected; punctuation follows word boundaries
unless set). Timing is the service's own choice where the engine gives none: the spoken
words are laid over the audio in proportion to their length (``distribute``), after the
engine's own boundaries when it has one per spoken word; punctuation sits at the end of the
word before it with no duration, a bookmark at the start of the next spoken word, a sentence
spans its words. Viseme ids follow the letters of each word (a letter-to-viseme table in the
spirit of the documented en-US phoneme-to-viseme map, not Azure's phonemes) and animations
are placeholders of the documented kinds: an SVG fragment per viseme (``svg``,
``redlips_front``) or 60 frames a second of 55 blend-shape weights (``FacialExpression``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shim.emulator.ssml import Request

TICKS_PER_SECOND = 10_000_000
FRAME_TICKS = TICKS_PER_SECOND // 60  # blend shapes: 60 frames a second
BLEND_SHAPES = 55
_SPOKEN = ("word", "math")

# Viseme ids (0-21, the documented en-US set) by letter; digraphs first.
_DIGRAPHS = {"th": 19, "sh": 16, "ch": 16, "ng": 20, "ph": 18, "wh": 7}
_LETTERS = {
    **dict.fromkeys("a", 2),
    **dict.fromkeys("e", 4),
    **dict.fromkeys("iy", 6),
    **dict.fromkeys("o", 8),
    **dict.fromkeys("uw", 7),
    **dict.fromkeys("pbm", 21),
    **dict.fromkeys("fv", 18),
    **dict.fromkeys("tdn", 19),
    **dict.fromkeys("szcx", 15),
    **dict.fromkeys("jg", 16),
    **dict.fromkeys("kq", 20),
    "l": 14,
    "r": 13,
    "h": 12,
}


@dataclass(frozen=True)
class Options:
    word: bool = True
    punctuation: bool = True
    sentence: bool = False
    bookmark: bool = True
    viseme: bool = False
    session_end: bool = True


def _flag(value: object, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


def options_from(context: object) -> Options:
    """The ``metadataOptions`` of a ``synthesis.context`` body (client input: any shape).
    Without them (an old client) word and punctuation boundaries and bookmarks are sent."""
    synthesis = context.get("synthesis") if isinstance(context, Mapping) else None
    audio = synthesis.get("audio") if isinstance(synthesis, Mapping) else None
    raw = audio.get("metadataOptions") if isinstance(audio, Mapping) else None
    if not isinstance(raw, Mapping):
        return Options()
    word = _flag(raw.get("wordBoundaryEnabled"), False)
    return Options(
        word=word,
        punctuation=_flag(raw.get("punctuationBoundaryEnabled"), word),
        sentence=_flag(raw.get("sentenceBoundaryEnabled"), False),
        bookmark=_flag(raw.get("bookmarkEnabled"), False),
        viseme=_flag(raw.get("visemeEnabled"), False),
        session_end=_flag(raw.get("sessionEndEnabled"), True),
    )


@dataclass(frozen=True)
class Span:
    offset: int  # ticks from the start of this synthesis' audio
    duration: int


def distribute(lengths: Sequence[int], start: int, end: int) -> list[Span]:
    """Spans for items of these lengths laid end to end over ``[start, end)``."""
    total = sum(lengths) or 1
    spans, position = [], start
    for length in lengths:
        duration = (end - start) * length // total
        spans.append(Span(position, duration))
        position += duration
    return spans


def _chunk_spans(request: Request, engine_words: Sequence[Span], audio_ticks: int) -> list[Span]:
    """One span per whitespace-separated chunk of ``request.spoken_text``."""
    chunks = request.spoken_text.split()
    if len(engine_words) == len(chunks):
        return list(engine_words)
    return distribute([len(c) + 1 for c in chunks], 0, audio_ticks)


def token_spans(
    request: Request, engine_words: Sequence[Span], audio_ticks: int
) -> list[Span | None]:
    """The audio span of each spoken and punctuation token (None for bookmarks)."""
    chunks = _chunk_spans(request, engine_words, audio_ticks)
    spans: list[Span | None] = []
    chunk = 0
    last_end = 0
    for token in request.tokens:
        if token.kind in _SPOKEN:
            count = max(1, len(token.spoken.split()))
            covered = chunks[chunk : chunk + count] or [Span(last_end, 0)]
            span = Span(
                covered[0].offset, covered[-1].offset + covered[-1].duration - covered[0].offset
            )
            chunk += count
            last_end = span.offset + span.duration
            spans.append(span)
        elif token.kind == "punctuation":
            spans.append(Span(last_end, 0))
        else:
            spans.append(None)
    return spans


def _boundary(kind: str, boundary_type: str, text: str, span: Span, base: int) -> dict[str, Any]:
    return {
        "Type": kind,
        "Data": {
            "Offset": base + span.offset,
            "Duration": span.duration,
            "text": {"Text": text, "Length": len(text), "BoundaryType": boundary_type},
        },
    }


def visemes_of(word: str) -> list[int]:
    """Viseme ids for a word's letters (vowels and consonants; digraphs as one)."""
    ids: list[int] = []
    lower = word.lower()
    index = 0
    while index < len(lower):
        pair = lower[index : index + 2]
        if pair in _DIGRAPHS:
            ids.append(_DIGRAPHS[pair])
            index += 2
            continue
        viseme = _LETTERS.get(lower[index])
        if viseme is not None and (not ids or ids[-1] != viseme):
            ids.append(viseme)
        index += 1
    return ids or [1]


def _animation(kind: str, viseme: int, span: Span, frame_index: int) -> str:
    if kind == "facialexpression":
        frames = max(1, span.duration // FRAME_TICKS)
        opening = 0.0 if viseme == 0 else min(1.0, 0.2 + viseme / 30)
        shapes = [[round(opening if i == 17 else 0.0, 3) for i in range(BLEND_SHAPES)]] * frames
        return json.dumps({"FrameIndex": frame_index, "BlendShapes": shapes})
    if kind in ("svg", "redlips_front"):
        return f'<svg viewBox="0 0 100 100"><g id="viseme-{viseme}"/></svg>'
    return ""


def _visemes(
    request: Request, spans: Sequence[Span | None], audio_ticks: int, base: int
) -> list[dict[str, Any]]:
    kind = (request.viseme_type or "").lower()
    points: list[tuple[int, Span]] = [(0, Span(0, 0))]
    for token, span in zip(request.tokens, spans, strict=True):
        if token.kind in _SPOKEN and span is not None:
            ids = visemes_of(token.spoken.replace(" ", ""))
            points += zip(
                ids,
                distribute([1] * len(ids), span.offset, span.offset + span.duration),
                strict=True,
            )
    points.append((0, Span(audio_ticks, 0)))
    items, frame = [], 0
    for viseme, span in points:
        animation = _animation(kind, viseme, span, frame)
        frame += max(1, span.duration // FRAME_TICKS) if kind == "facialexpression" else 0
        data: dict[str, Any] = {
            "Offset": base + span.offset,
            "VisemeId": 0 if kind == "facialexpression" else viseme,
            "IsLastAnimation": True,
        }
        if animation:
            data["AnimationChunk"] = animation
        items.append({"Type": "Viseme", "Data": data})
    return items


def timeline(
    request: Request,
    options: Options,
    engine_words: Sequence[Span],
    audio_ticks: int,
    base: int = 0,
) -> list[dict[str, Any]]:
    """Every metadata item of one synthesis, in offset order (at one offset, in the order of
    the input: a sentence before its first word, a bookmark before the word it marks,
    punctuation before the next word, visemes last); ``base`` is where this audio starts in
    the turn (a text stream speaks sentence by sentence)."""
    spans = token_spans(request, engine_words, audio_ticks)
    ranked: list[tuple[int, float, dict[str, Any]]] = []
    sentence_spans: dict[int, tuple[int, Span]] = {}  # sentence → (first token, span)
    next_spoken = audio_ticks  # a bookmark after the last word sits at the end
    for index in range(len(request.tokens) - 1, -1, -1):
        token, span = request.tokens[index], spans[index]
        if token.kind == "bookmark" and options.bookmark:
            item = {
                "Type": "Bookmark",
                "Data": {"Offset": base + next_spoken, "Bookmark": token.text},
            }
            ranked.append((next_spoken, index, item))
        elif span is not None and token.kind in _SPOKEN:
            next_spoken = span.offset
    for index, (token, span) in enumerate(zip(request.tokens, spans, strict=True)):
        if span is None:
            continue
        if token.kind in _SPOKEN and options.word:
            item = _boundary("WordBoundary", "WordBoundary", token.text, span, base)
            ranked.append((span.offset, index, item))
        elif token.kind == "punctuation" and options.punctuation:
            item = _boundary("WordBoundary", "PunctuationBoundary", token.text, span, base)
            ranked.append((span.offset, index, item))
        if token.kind in _SPOKEN:
            first, sentence = sentence_spans.get(token.sentence, (index, span))
            end = span.offset + span.duration
            sentence_spans[token.sentence] = (first, Span(sentence.offset, end - sentence.offset))
    if options.sentence:
        for number, text in request.sentences():
            if number in sentence_spans:
                first, span = sentence_spans[number]
                item = _boundary("SentenceBoundary", "SentenceBoundary", text, span, base)
                ranked.append((span.offset, first - 0.5, item))
    if options.viseme:
        visemes = _visemes(request, spans, audio_ticks, base)
        ranked += [(v["Data"]["Offset"] - base, len(spans) + n, v) for n, v in enumerate(visemes)]
    return [item for _, _, item in sorted(ranked, key=lambda r: (r[0], r[1]))]
