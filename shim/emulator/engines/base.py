"""The small interface every engine of the local Speech service implements.

An engine recognises a stream of 16 kHz mono 16-bit PCM into hypotheses and phrases
(with their translations), and synthesises text to PCM. Positions in events are
*absolute* 100-ns ticks from the start of the session's audio (the service makes them
turn-relative on the wire), so an engine never needs to know about USP turns.

This module is the engines' boundary: nothing in ``shim/emulator/engines/`` imports the
service around it (``tests/unit/test_import_layers.py``); what they refuse they raise as
:class:`BadInput`, which the service turns into a 1007 close.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from shim.emulator.engines.scenario import Scenario


class BadInput(Exception):
    """The client broke the protocol, or asked for what the engines cannot do: the
    connection is closed with 1007 and this reason."""


@dataclass(frozen=True)
class StreamParams:
    session_id: str  # X-ConnectionId: stable across the SDK's reconnects
    language: str  # source locale, e.g. en-US
    targets: tuple[str, ...]  # translation targets as the client named them (empty: plain STT)
    start_ticks: int  # absolute position of the turn's first PCM byte
    segmentation_silence_ms: int | None = None
    scenario: Scenario = field(default_factory=Scenario)
    phrases: tuple[str, ...] = ()  # the client's phrase list (PhraseListGrammar)
    synthesized: tuple[str, ...] = ()  # targets whose translations the service will speak


@dataclass(frozen=True)
class SpeechStarted:
    offset: int


@dataclass(frozen=True)
class Hypothesis:
    offset: int
    duration: int
    text: str
    translations: dict[str, str]
    language: str | None = None  # the locale heard, where the engine tells (language ID)


@dataclass(frozen=True)
class Phrase:
    offset: int
    duration: int
    text: str
    translations: dict[str, str]
    status: str = "Success"
    language: str | None = None  # the locale heard, where the engine tells (language ID)


RecognitionEvent = SpeechStarted | Hypothesis | Phrase


@dataclass(frozen=True)
class Quiet:
    """The stretch without speech at the end of a stream's audio so far, in absolute ticks:
    from the end of the last speech the engine heard (or the turn's start) to the audio
    received, or to the start of speech it is still hearing (``start == end`` then). The
    service's silence timeouts (:mod:`shim.emulator.silence`) are measured on it."""

    start: int
    end: int


@dataclass(frozen=True)
class WordBoundary:
    offset: int  # ticks from the start of the synthesized audio
    duration: int
    text: str


@dataclass(frozen=True)
class Synthesis:
    pcm: bytes  # 16 kHz mono 16-bit
    words: tuple[WordBoundary, ...]


class RecognitionStream(Protocol):
    async def feed(self, pcm: bytes) -> list[RecognitionEvent]:
        """Audio of the turn, in order; returns what became known."""
        ...

    async def finish(self) -> list[RecognitionEvent]:
        """The client's audio ended: return the remaining events."""
        ...

    def set_targets(self, targets: tuple[str, ...]) -> None: ...

    def quiet(self) -> Quiet:
        """Where the audio received so far has been without speech (see :class:`Quiet`)."""
        ...


class Engine(Protocol):
    name: str

    def open_stream(self, params: StreamParams) -> RecognitionStream: ...

    def supports(self, source_locale: str, target_language: str | None = None) -> str | None:
        """None when the engine serves recognition of ``source_locale`` (and translation to
        ``target_language``); else a human reason that names what would enable it."""
        ...

    def capabilities(self) -> dict[str, Any]:
        """What ``GET /emulator/capabilities`` reports: languages, pairs, synthesis."""
        ...

    async def synthesize(
        self, text: str, language: str, voice: str | None, scenario: Scenario
    ) -> Synthesis: ...

    async def translate_words(
        self, words: tuple[str, ...], source_locale: str, target_language: str
    ) -> tuple[str, ...]:
        """Each word translated on its own (what profanity marks become in a translation);
        empty when the engine has no text translator for the pair."""
        ...
