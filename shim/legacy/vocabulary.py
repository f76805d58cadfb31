"""The session core's vocabulary: its limits, the events it is told and the commands it gives.

The executor (``shim/server/translate_session.py``) turns what happens into these events
and carries the commands out in order (:mod:`shim.legacy.conduct` decides). Backend events
come from the Speech SDK bridge as plain values (:mod:`shim.speech.events`). A new kind of
output is a new command in :data:`Command`; the executor's dispatch ends in
``assert_never``, so a command it does not carry out fails the type check.
"""

from __future__ import annotations

from dataclasses import dataclass

from shim.legacy.errors import Failure
from shim.legacy.messages import ResultKind
from shim.legacy.request import AudioFormat
from shim.speech.events import (
    BackendStarted,
    BackendStartFailed,
    BridgeEvent,
    Canceled,
    Recognized,
    Recognizing,
    Stopped,
    SynthesisAudio,
    SynthesisCompleted,
)


@dataclass(frozen=True)
class Limits:
    """Every timeout of a session, in seconds; the defaults are the documented ones."""

    idle_timeout: float = 60.0  # no audio received → flush, close 1000 (ER2)
    silence_timeout: float = 120.0  # no speech heard for this much audio → flush, 1000 (ER2)
    max_session: float = 90 * 60.0  # the legacy service's cap → flush, close 1000 (ER2)
    flush_timeout: float = 30.0  # after the audio ended: results must be in (+ audio owed)
    tts_timeout: float = 15.0  # a final's text-to-speech must complete (or progress) within
    backend_timeout: float = 10.0  # the watchdog (module docstring)
    liveness_timeout: float = 20.0  # reading paused: a gone client is noticed within this
    write_timeout: float = 30.0  # a write to the client makes no progress → abandoned


# ---- events: what happened -----------------------------------------------------------------------
@dataclass(frozen=True)
class AudioReceived:
    """A piece of a binary message (AI3: pieces are handled as they arrive)."""

    data: bytes
    message_start: bool


@dataclass(frozen=True)
class TextReceived:
    """A piece of a text message: not allowed (AI1)."""


@dataclass(frozen=True)
class ClientClosed:
    """The client sent its Close frame."""

    code: int


@dataclass(frozen=True)
class ClientEnded:
    """The client ended its side of the connection (end of stream): it sends nothing more,
    but may still read."""


@dataclass(frozen=True)
class ClientGone:
    """The connection failed (a write failed, a reset): nobody is left to send anything to."""


@dataclass(frozen=True)
class ProtocolViolation:
    """The client broke RFC 6455 (1002), or sent text that is not UTF-8 where it must be (1007)."""

    message: str
    invalid_data: bool = False


@dataclass(frozen=True)
class BackendReplaced:
    """After :class:`BackendLost`: another backend has the session, and is given the audio
    from ``start`` (ticks of the session's audio; its offsets count from there)."""

    start: int = 0


@dataclass(frozen=True)
class Resynthesized:
    """After :class:`Resynthesize`: the final's speech (16 kHz mono 16-bit PCM, or WAV)."""

    audio: bytes


@dataclass(frozen=True)
class ResynthesisFailed:
    """After :class:`Resynthesize`: the new resource could not speak it (SDK error code)."""

    code: str


@dataclass(frozen=True)
class NoOtherBackend:
    """After :class:`BackendLost`: nowhere to move; the session ends as the failure says."""


@dataclass(frozen=True)
class Delivered:
    """A send command (:class:`SendResult`, :class:`SendTts`) was written to the client (the
    write timeout, ``Limits.write_timeout``, counts from the last one)."""

    size: int


@dataclass(frozen=True)
class ShutdownRequested:
    """The server is going away (drain over): close 1001."""


@dataclass(frozen=True)
class Tick:
    """Time passed; the executor calls this at :meth:`SessionConduct.next_deadline`."""


Event = (
    AudioReceived
    | TextReceived
    | ClientClosed
    | ClientEnded
    | ClientGone
    | ProtocolViolation
    | BackendStarted
    | BackendStartFailed
    | BackendReplaced
    | NoOtherBackend
    | Resynthesized
    | ResynthesisFailed
    | Delivered
    | ShutdownRequested
    | Tick
    | BridgeEvent
)


# ---- commands: what the executor must do, in order -----------------------------------------------
@dataclass(frozen=True)
class SendResult:
    """One result as one unfragmented text frame (RS1)."""

    text: str  # one compact JSON result
    kind: ResultKind
    end: int = 0  # ticks: where the result's audio ends (a final's: a next backend's start)

    @property
    def size(self) -> int:
        return len(self.text)


@dataclass(frozen=True)
class SendTts:
    """One final's audio as one binary message in several frames (TS1, TS2), in the format
    the client asked for (the executor encodes MP3 off the loop)."""

    wav: bytes  # one complete WAV file
    final_id: str
    audio_format: AudioFormat = AudioFormat.WAV

    @property
    def size(self) -> int:
        return len(self.wav)


Send = SendResult | SendTts  # what goes to the client, in order


@dataclass(frozen=True)
class WriteAudio:
    """16 kHz mono 16-bit PCM for the backend."""

    pcm: bytes


@dataclass(frozen=True)
class EndAudio:
    """No more audio: the backend finishes what it has."""


@dataclass(frozen=True)
class StartReading:
    """A backend has started: read the client's frames from now on."""


@dataclass(frozen=True)
class PauseReading:
    """Stop reading the client's frames (they stay in TCP buffers)."""


@dataclass(frozen=True)
class ResumeReading:
    """Read the client's frames again."""


@dataclass(frozen=True)
class CheckClient:
    """Reading is paused: find out whether the client is still there (the executor pings it; a
    gone client makes a write fail, reported as :class:`ClientGone`)."""


@dataclass(frozen=True)
class CloseSession:
    """After every send before it: send Close(code, reason), then release the backend."""

    code: int
    reason: str


@dataclass(frozen=True)
class Abandon:
    """The client cannot be reached: drop the connection, release the backend now."""

    reason: str


@dataclass(frozen=True)
class BackendLost:
    """The backend failed: move the session to another backend, giving it the audio from
    ``resume_at`` on (the end of the last final sent; 0 before any), and answer
    :class:`BackendReplaced`, or :class:`NoOtherBackend` to end it. Always the last command
    of its batch."""

    failure: Failure
    code: str | None  # the SDK's CancellationErrorCode, when the failure was a cancellation
    resume_at: int = 0


@dataclass(frozen=True)
class KeepAudioFrom:
    """A final ending at ``tick`` was sent: a next backend needs no audio before it."""

    tick: int


@dataclass(frozen=True)
class Resynthesize:
    """Speak ``text`` (the final ``final_id``'s translation, in the session's voice) on the
    new backend's resource; answer :class:`Resynthesized` or :class:`ResynthesisFailed`."""

    final_id: str
    text: str


@dataclass(frozen=True)
class Warn:
    """Something the operator should see in the log (never shown to the client)."""

    message: str


Command = (
    SendResult
    | SendTts
    | WriteAudio
    | EndAudio
    | StartReading
    | PauseReading
    | ResumeReading
    | CheckClient
    | CloseSession
    | Abandon
    | BackendLost
    | KeepAudioFrom
    | Resynthesize
    | Warn
)


BackendEvent = (
    Recognizing
    | Recognized
    | SynthesisAudio
    | SynthesisCompleted
    | Canceled
    | Stopped
    | BackendStartFailed
    | Resynthesized
    | ResynthesisFailed
)
# Backend events: from the lost backend, while the executor moves the session, they are ignored.
BACKEND_EVENTS = (
    Recognizing,
    Recognized,
    SynthesisAudio,
    SynthesisCompleted,
    Canceled,
    Stopped,
    BackendStartFailed,
    Resynthesized,
    ResynthesisFailed,
)


@dataclass(frozen=True)
class Ending:
    """How the session ended: for the session-end log line and the metrics."""

    failure: Failure
    code: int | None  # None: abandoned, no close frame
    reason: str
