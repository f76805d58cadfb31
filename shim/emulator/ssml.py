"""What a synthesis request says, token by token (sans-I/O): words, punctuation, bookmarks,
MathML, sentences, and the viseme kind asked for.

The service reports each token as the SDKs expect it (see ``synthesis_metadata``): a word
boundary's ``Text`` must be a substring of the request as the client wrote it, because both
SDKs find the boundary's text offset by searching the plain text or SSML for it; so a
token keeps its written form (a MathML element keeps its source XML, which the JavaScript
SDK's tests expect as one word boundary) next to what the engine is asked to say.

Hand-written over ElementTree: no SSML library reads out MathML or keeps each element's
source text, and the tokenizer rules are the service's own (words of letters and digits
with inner apostrophes, hyphens and dots; every other visible character a punctuation
token; a sentence ends after ``.``, ``!``, ``?`` or their CJK forms).
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

TokenKind = Literal["word", "punctuation", "bookmark", "math"]

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_JOINERS = frozenset("'’-.")  # inside a word (between two word characters) they stay in it
_SENTENCE_END = frozenset(".!?。！？…")
_LOCALE = re.compile(r"^([a-z]{2,3}-[A-Za-z]{2,4})")
_MATH_SOURCE = re.compile(r"<(?:[\w.-]+:)?math\b.*?</(?:[\w.-]+:)?math\s*>", re.DOTALL)
_MATH_OPERATORS = {
    "+": "plus",
    "-": "minus",
    "−": "minus",
    "=": "equals",
    "×": "times",
    "*": "times",
    "·": "times",
    "/": "divided by",
    "÷": "divided by",
    "<": "is less than",
    ">": "is greater than",
    "≤": "is less than or equal to",
    "≥": "is greater than or equal to",
    "±": "plus or minus",
}
_SILENT_ELEMENTS = frozenset({"lexicon", "backgroundaudio", "audioduration", "break", "viseme"})


class SsmlError(ValueError):
    """The SSML does not parse: the request is refused (1007 with this reason)."""


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # as written (bookmark: its mark; math: the element's source XML)
    spoken: str  # what the engine says ("" for punctuation and bookmarks)
    sentence: int  # index of the sentence the token belongs to


@dataclass(frozen=True)
class Request:
    tokens: tuple[Token, ...]
    language: str
    voice: str | None
    viseme_type: str | None  # ``<mstts:viseme type=...>``: "svg", "redlips_front", ...

    @property
    def spoken_text(self) -> str:
        """What the engine is asked to say: words and read-out MathML, with punctuation."""
        parts: list[str] = []
        for token in self.tokens:
            if token.kind == "punctuation" and parts:
                parts[-1] += token.text
            elif token.kind in ("word", "math"):
                parts.append(token.spoken)
        return " ".join(parts)

    def parts(self, max_chars: int) -> list[Request]:
        """The request cut into parts of at most ``max_chars`` spoken characters, whole
        sentences where they fit (a longer sentence between its words), in order: each is
        synthesized on its own, which bounds the audio held at once."""

        def size(tokens: list[Token]) -> int:
            return sum(len(t.spoken) + 1 for t in tokens)

        sentences: list[list[Token]] = []
        for token in self.tokens:
            if sentences and sentences[-1][-1].sentence == token.sentence:
                sentences[-1].append(token)
            else:
                sentences.append([token])
        groups: list[list[Token]] = [[]]
        for sentence in sentences:
            if size(groups[-1]) + size(sentence) <= max_chars:
                groups[-1] += sentence
                continue
            groups.append([])
            for token in sentence:
                if groups[-1] and size(groups[-1]) + len(token.spoken) + 1 > max_chars:
                    groups.append([])
                groups[-1].append(token)
        return [Request(tuple(g), self.language, self.voice, self.viseme_type) for g in groups if g]

    def sentences(self) -> list[tuple[int, str]]:
        """(sentence index, its written text) for each sentence that has a spoken token."""
        texts: dict[int, list[str]] = {}
        for token in self.tokens:
            if token.kind == "bookmark":
                continue
            words = texts.setdefault(token.sentence, [])
            if token.kind == "punctuation" and words:
                words[-1] += token.text
            else:
                words.append(token.text)
        return [(index, " ".join(words)) for index, words in sorted(texts.items())]


def _is_mark(char: str) -> bool:
    """Punctuation or a symbol (Unicode P* and S*): its own token, never part of a word."""
    return unicodedata.category(char)[0] in "PS"


def tokenize(text: str) -> list[tuple[Literal["word", "punctuation"], str]]:
    """Words (letters, digits and combining marks, with inner apostrophes, hyphens and dots:
    "What's", "e-mail", "3.14") and single punctuation characters, in order."""
    tokens: list[tuple[Literal["word", "punctuation"], str]] = []
    word: list[str] = []
    for index, char in enumerate(text):
        following = text[index + 1] if index + 1 < len(text) else " "
        inner = char in _JOINERS and word and not following.isspace() and not _is_mark(following)
        if char.isspace() or (_is_mark(char) and not inner):
            if word:
                tokens.append(("word", "".join(word)))
                word = []
            if not char.isspace():
                tokens.append(("punctuation", char))
        else:
            word.append(char)
    if word:
        tokens.append(("word", "".join(word)))
    return tokens


def _local(tag: object) -> str:
    return tag.split("}")[-1] if isinstance(tag, str) else ""


class _Builder:
    def __init__(self, math_sources: list[str]) -> None:
        self.tokens: list[Token] = []
        self.sentence = 0
        self._math_sources = math_sources
        self._open = False  # the current sentence has a token

    def text(self, text: str | None) -> None:
        for kind, piece in tokenize(text or ""):
            if kind == "word":
                self._add(Token("word", piece, piece, self.sentence))
            else:
                self._add(Token("punctuation", piece, "", self.sentence))
                if piece in _SENTENCE_END:
                    self._end_sentence()

    def bookmark(self, mark: str) -> None:
        self.tokens.append(Token("bookmark", mark, "", self.sentence))

    def math(self, element: ET.Element) -> None:
        index = sum(1 for t in self.tokens if t.kind == "math")
        source = self._math_sources[index] if index < len(self._math_sources) else ""
        spoken = " ".join(read_math(element).split())
        if spoken:
            self._add(Token("math", source or spoken, spoken, self.sentence))

    def _add(self, token: Token) -> None:
        self.tokens.append(token)
        self._open = True

    def _end_sentence(self) -> None:
        if self._open:
            self.sentence += 1
            self._open = False


def read_math(element: ET.Element) -> str:
    """MathML read out in English words: ``<msqrt><mn>2</mn></msqrt>`` → "the square root
    of 2". The service's own reading (Azure's wording is not published)."""
    tag = _local(element.tag)
    children = list(element)
    parts = [read_math(child) for child in children]
    if tag in ("mn", "mi", "mtext", "ms"):
        return " ".join((element.text or "").split())
    if tag == "mo":
        operator = (element.text or "").strip()
        return _MATH_OPERATORS.get(operator, "" if operator in "()[]{}," else operator)
    if tag == "msqrt":
        return "the square root of " + " ".join(parts)
    if tag == "mroot" and len(parts) == 2:
        return f"the root {parts[1]} of {parts[0]}"
    if tag == "mfrac" and len(parts) == 2:
        return f"{parts[0]} over {parts[1]}"
    if tag == "msup" and len(parts) == 2:
        return (
            f"{parts[0]} squared" if parts[1] == "2" else f"{parts[0]} to the power of {parts[1]}"
        )
    if tag == "msub" and len(parts) == 2:
        return f"{parts[0]} sub {parts[1]}"
    return " ".join(p for p in parts if p)


def _walk(element: ET.Element, builder: _Builder, request: dict[str, str]) -> None:
    tag = _local(element.tag)
    if tag == "bookmark":
        builder.bookmark(element.get("mark", ""))
    elif tag == "math":
        builder.math(element)
    elif tag == "viseme":
        request["viseme_type"] = element.get("type", "") or "default"
    elif tag not in _SILENT_ELEMENTS:
        if tag == "voice" and "voice" not in request and element.get("name"):
            request["voice"] = element.get("name", "")
        builder.text(element.text)
        for child in element:
            _walk(child, builder, request)
    builder.text(element.tail)


def parse_ssml(ssml: str) -> Request:
    """The tokens, language, voice and viseme kind of an SSML document."""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError as exc:
        raise SsmlError(f"ssml does not parse: {exc}") from None
    builder = _Builder(_MATH_SOURCE.findall(ssml))
    found: dict[str, str] = {}
    builder.text(root.text)
    for child in root:
        _walk(child, builder, found)
    voice = found.get("voice")
    language = root.get(_XML_LANG) or "en-US"
    match = _LOCALE.match(voice or "")
    if match:
        language = match.group(1)
    return Request(tuple(builder.tokens), language, voice, found.get("viseme_type"))


def parse_text(text: str, language: str, voice: str | None = None) -> Request:
    """Plain text (a text stream's pieces): words and punctuation only."""
    builder = _Builder([])
    builder.text(text)
    match = _LOCALE.match(voice or "")
    return Request(tuple(builder.tokens), match.group(1) if match else language, voice, None)


def complete_sentences(text: str) -> int:
    """How many characters of ``text`` (a growing text stream) end on a sentence end followed
    by whitespace: what can be spoken before the rest arrives; 0 when none."""
    end = 0
    for index, char in enumerate(text[:-1]):
        if char in _SENTENCE_END and text[index + 1].isspace():
            end = index + 1
    return end
