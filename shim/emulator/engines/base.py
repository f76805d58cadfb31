"""The small interface every engine of the local Speech service implements.

An engine recognises a stream of 16 kHz mono 16-bit PCM into hypotheses and phrases
(with their translations), and synthesises text to PCM. Positions in events are
*absolute* 100-ns ticks from the start of the session's audio (the service makes them
turn-relative on the wire), so an engine never needs to know about USP turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from shim.audiotime import BYTES_PER_SECOND
from shim.emulator.scenario import Scenario


@dataclass(frozen=True)
class StreamParams:
    session_id: str  # X-ConnectionId: stable across the SDK's reconnects
    language: str  # source locale, e.g. en-US
    targets: tuple[str, ...]  # translation targets as the client named them (empty: plain STT)
    start_ticks: int  # absolute position of the turn's first PCM byte
    segmentation_silence_ms: int | None = None
    scenario: Scenario = field(default_factory=Scenario)


@dataclass(frozen=True)
class SpeechStarted:
    offset: int


@dataclass(frozen=True)
class Hypothesis:
    offset: int
    duration: int
    text: str
    translations: dict[str, str]


@dataclass(frozen=True)
class Phrase:
    offset: int
    duration: int
    text: str
    translations: dict[str, str]
    status: str = "Success"


# Every engine acknowledges each 5 s stretch without speech.
SILENCE_ACK_BYTES = BYTES_PER_SECOND * 5


@dataclass(frozen=True)
class Silence:
    """A long stretch without speech. The service acknowledges it to the SDK, whose buffer of
    unacknowledged audio is capped (``SPEECH-MaxBufferSizeMs``, 66 s): without this, 100 s of
    trailing silence from a legacy client would end the session with ServiceTimeout."""

    offset: int
    duration: int


RecognitionEvent = SpeechStarted | Hypothesis | Phrase | Silence


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
