"""What the Speech SDK bridge hands to the event loop: plain immutable values, no SDK objects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recognizing:
    text: str
    translation: str
    offset: int  # 100-ns ticks from the start of the session's audio
    duration: int


@dataclass(frozen=True)
class Recognized:
    matched: bool  # False for NoMatch (noise, or silence)
    text: str
    translation: str
    offset: int
    duration: int
    # Nothing was said: a NoMatch for silence (InitialSilenceTimeout), or the empty phrase
    # with which continuous translation acknowledges silence.
    silence: bool = False


@dataclass(frozen=True)
class SynthesisAudio:
    audio: bytes  # one SDK chunk: a WAV file of its own


@dataclass(frozen=True)
class SynthesisCompleted:
    pass


@dataclass(frozen=True)
class Canceled:
    reason: str  # CancellationReason name: EndOfStream, Error, CancelledByUser
    code: str  # CancellationErrorCode name
    details: str  # never shown to legacy clients (may name hosts or sessions)


@dataclass(frozen=True)
class Stopped:
    pass


BridgeEvent = Recognizing | Recognized | SynthesisAudio | SynthesisCompleted | Canceled | Stopped


# The start's outcome: the edge reports it once the bridge's start() returns (not an SDK event).
@dataclass(frozen=True)
class BackendStarted:
    """The recognizer started: the session's audio may flow (the edge starts reading)."""


@dataclass(frozen=True)
class BackendStartFailed:
    """The Speech SDK could not start the recognizer."""
