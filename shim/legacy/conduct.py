"""The conduct of one legacy session, sans-I/O: every decision between handshake and close.

In the style of h11 and of mitmproxy's proxy layers: the edge turns what happens — client
frames, Speech SDK events, the passing of time — into events and calls
:meth:`SessionConduct.handle`; the core answers with commands (send a result, write audio to
the backend, pause reading, close) that the edge executes in order. The core does no I/O and
reads no clock: every call carries ``now`` (monotonic seconds), so playbook tests can replay
any timeline.

What it decides:

* **Honest endings.** The session closes 1000 only when every final it owes was sent: after
  the client's Close (ER1), an idle timeout, long silence or the session cap (ER2), audio is
  ended and the core waits for the backend's ``Stopped``. A backend failure, a stalled
  backend, a flush that runs out, or a final whose text-to-speech never completed ends the
  session 1011 (1001 where the backend asked to retry later, ER3), also after the client's
  Close. All codes come from :mod:`shim.legacy.errors`.
* **Moving to another backend.** A session made with ``may_move`` whose backend fails (a
  cancellation — the SDK's own reconnects gave up —, an early stop, a start that failed, a
  stall, a flush that ran out) does not close: it asks the edge to go on on another Speech
  resource (:class:`BackendLost`), from the end of the last final it sent (``resume_at``;
  0 before any). The edge keeps the audio from there on (:class:`KeepAudioFrom` follows
  every final sent), gives it to the next backend and answers :class:`BackendReplaced`
  with the tick where that backend's audio starts, or :class:`NoOtherBackend` to end the
  session as the failure says. Offsets from the new backend are shifted by that tick, so
  ids, offsets and ``TimingInfo`` go on as if nothing happened; results held behind a
  pending text-to-speech are dropped (never sent: the new backend recognises that audio
  again), and a final whose text went out but whose speech had not completed is spoken again
  on the new resource (:class:`Resynthesize`, answered :class:`Resynthesized`): what of its
  speech arrived is forgotten, so the client still gets exactly one audio message for it
  (TS1). A session whose text-to-speech was already cut short by its timeout cannot move:
  its ending is 1011 anyway.
* **The watchdog**, measured in audio time: a backend owes an answer once it has been given
  speech (loud audio, :mod:`shim.legacy.loudness`) and then ``backend_timeout`` more seconds
  of audio (or the end of audio); it is stalled when it owes an answer and has said nothing
  for ``backend_timeout`` seconds of wall time as well (a burst client's audio arrives long
  before the backend can have processed it). Silence needs no answer of its own (Azure may
  take ~20 s of it to acknowledge; a hang then loses no results): a backend that owes only
  silence is watched once the read-ahead is full or the audio has ended, and also gets real
  time to go through it.
* **Read-ahead.** Audio goes to the backend at most ``AUDIO_AHEAD_SECONDS`` ahead of what it
  has answered; beyond that the core pauses reading the client (TCP backpressure), so a
  whole-file client cannot park minutes of audio in the server. A session that may move
  also pauses once the audio kept for a move (from the end of the last final) reaches
  ``AUDIO_AHEAD_SECONDS`` — unless the backend has heard all but ``CAUGHT_UP_SECONDS`` of
  it: then it waits for more audio to end a phrase longer than the read-ahead, pausing could
  never end, and the kept audio grows on to the edge's hard limit (past which the session
  can no longer move until its next final). Received audio is converted
  in steps of at most ``CONVERT_STEP_BYTES`` of 16 kHz PCM and the read-ahead is checked
  after each step, so a format that multiplies on conversion (1 kHz 8-bit: 32 times) never
  gets further ahead than one step; what is left of a received piece waits, unconverted,
  until there is room. Each acknowledged silence lets one more step through: the SDK goes on
  after a turn Azure ended only when given audio. Reading also pauses while more than
  ``OUTBOX_HIGH_BYTES`` of results wait for a client that reads slowly.
* **Half-close.** A client that ends its side of the connection (``ClientEnded``: TCP
  end-of-stream, TLS close_notify) may still read: the Node ``websocket`` library sends its
  Close, shuts its side down at once and reads for 5 s more. Its end of stream is no
  disappearance: the flush goes on and every owed final is sent. An end of stream without a
  Close frame ends the audio like a Close (the client can send nothing more) and the flush
  goes on while writes succeed. Only a failed write, a reset or the write timeout mean the
  client is gone (``ClientGone``, ``ClientNotReading``).
* **Liveness while paused.** While reading is paused nothing the client sends is read, so a
  client that died behind its unread audio would go unnoticed. The core asks the edge to
  check the client (``CheckClient``: a Ping, whose write fails once the client's TCP answered
  the previous one with a reset) every half ``liveness_timeout`` of paused time in which
  nothing was written to it (a write is such a check itself): a gone client is noticed within
  ``liveness_timeout``. A backend that answers, however slowly, does not put the check off.

Memory: a session's core holds the audio normaliser's state (one sample frame and the
resampler), at most one received piece of audio not yet converted (one socket read, 256 KiB,
given by the edge), the results held behind a final's pending TTS (bounded by what the
backend may produce for the read-ahead window), and the start ticks of unanswered loud 100 ms
blocks (at most ``AUDIO_AHEAD_SECONDS × 10``) and, with ``may_move``, of the loud blocks
after the last final (ten per second of the kept audio). The backend is given at most
``AUDIO_AHEAD_SECONDS`` plus one step of audio it has not answered, whatever the format.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass, field

from shim.audiotime import TICKS_PER_SECOND, bytes_to_ticks
from shim.legacy.audio import AudioNormalizer
from shim.legacy.errors import (
    Failure,
    LegacyError,
    SessionError,
    close_for,
    close_for_error,
    failure_for_cancellation,
)
from shim.legacy.loudness import voiced_blocks
from shim.legacy.messages import ResultKind
from shim.legacy.request import SessionRequest
from shim.legacy.session import LegacySession, Outgoing, TextOut
from shim.speech.events import (
    BridgeEvent,
    Canceled,
    Recognized,
    Recognizing,
    Stopped,
    SynthesisAudio,
    SynthesisCompleted,
)

AUDIO_AHEAD_SECONDS = 60.0  # read-ahead of the backend: ~1.9 MB of 16 kHz PCM at most
CONVERT_STEP_BYTES = 64 << 10  # 16 kHz PCM converted per step (2 s): the read-ahead's overshoot
OUTBOX_HIGH_BYTES = 1 << 20  # results not yet written to a slow client: pause reading above
OUTBOX_LOW_BYTES = 256 << 10  # ... and resume below
SPEECH_BLOCKS_OWED = 10  # 1 s of loud audio unanswered: the backend owes a hypothesis
CAUGHT_UP_SECONDS = 1.0  # kept audio beyond the read-ahead: pause only while this much is owed


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


# ---- events: what happened ------------------------------------------------------------------
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
class ClientNotReading:
    """A write to the client made no progress for the edge's write timeout."""


@dataclass(frozen=True)
class ProtocolViolation:
    """The client broke RFC 6455 (1002), or sent text that is not UTF-8 where it must be (1007)."""

    message: str
    invalid_data: bool = False


@dataclass(frozen=True)
class BackendStartFailed:
    """The Speech SDK could not start the recognizer."""


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
    """A send command (:class:`SendResult`, :class:`SendTts`) was written to the client."""

    size: int


@dataclass(frozen=True)
class ShutdownRequested:
    """The server is going away (drain over): close 1001."""


@dataclass(frozen=True)
class Tick:
    """Time passed; the edge calls this at :meth:`SessionConduct.next_deadline`."""


Event = (
    AudioReceived
    | TextReceived
    | ClientClosed
    | ClientEnded
    | ClientGone
    | ClientNotReading
    | ProtocolViolation
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


# ---- commands: what the edge must do, in order ----------------------------------------------
@dataclass(frozen=True)
class SendResult:
    """One result as one unfragmented text frame (RS1)."""

    text: str
    kind: ResultKind

    @property
    def size(self) -> int:
        return len(self.text)


@dataclass(frozen=True)
class SendTts:
    """One final's audio as one binary message in several frames (TS1, TS2)."""

    wav: bytes
    final_id: str

    @property
    def size(self) -> int:
        return len(self.wav)


@dataclass(frozen=True)
class WriteAudio:
    """16 kHz mono 16-bit PCM for the backend."""

    pcm: bytes


@dataclass(frozen=True)
class EndAudio:
    """No more audio: the backend finishes what it has."""


@dataclass(frozen=True)
class PauseReading:
    """Stop reading the client's frames (they stay in TCP buffers)."""


@dataclass(frozen=True)
class ResumeReading:
    """Read the client's frames again."""


@dataclass(frozen=True)
class CheckClient:
    """Reading is paused: find out whether the client is still there (the edge pings it; a
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


_BACKEND_EVENTS = (
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


class State(enum.Enum):
    STREAMING = "streaming"  # client audio flows to the backend
    FLUSHING = "flushing"  # audio ended: waiting for the backend's last results (ER1)
    CLOSED = "closed"  # CloseSession or Abandon issued: nothing more will happen


@dataclass(frozen=True)
class Ending:
    """How the session ended: for the session-end log line and the metrics."""

    failure: Failure
    code: int | None  # None: abandoned, no close frame
    reason: str


@dataclass
class _Pauses:
    backend: bool = False  # read-ahead window full
    client: bool = False  # results waiting for a slow reader

    @property
    def any(self) -> bool:
        return self.backend or self.client


@dataclass
class _Audio:
    """What the backend was given and what it has answered, in 100-ns ticks."""

    written: int = 0
    heard: int = 0  # the furthest end of any result (partial, final, silence)
    speech_end: int = 0  # the end of the last result with words in it
    kept_from: int = 0  # may_move: the end of the last final sent (a next backend's start)
    voiced: collections.deque[int] = field(default_factory=collections.deque)
    kept_voiced: collections.deque[int] = field(default_factory=collections.deque)  # ≥ kept_from

    def owed(self) -> int:
        return max(0, self.written - self.heard)

    def kept(self) -> int:
        return max(0, self.written - self.kept_from)


class SessionConduct:
    """One session's decisions. Feed every event to :meth:`handle`; execute what it returns."""

    def __init__(
        self, request: SessionRequest, limits: Limits, now: float, *, may_move: bool = False
    ) -> None:
        """``may_move``: the edge can go on with the session on another backend."""
        self.limits = limits
        self._may_move = may_move
        self._lost: tuple[Failure, str, str | None] | None = None  # awaiting the edge's answer
        self._base = 0  # ticks: where the current backend's audio starts in the session's
        self._backend_done = False  # it stopped after the end of audio; a final is re-spoken
        self.state = State.STREAMING
        self.ending: Ending | None = None
        self._results = LegacySession(request)
        self._normalizer = AudioNormalizer()
        self._audio = _Audio()
        self._pauses = _Pauses()
        self._started = now
        self._idle_since = now  # last audio, or the end of the last pause
        self._last_event = now  # the backend's last sign of life
        self._flush: Failure | None = None  # why audio ended, while flushing
        self._flush_started = 0.0
        self._flush_deadline = 0.0
        self._tts_deadline: float | None = None
        self._tts_cut_short = False
        self._unsent = 0  # bytes of sends not yet delivered
        self._input: bytes | memoryview = b""  # received audio not yet converted (one piece)
        self._checked_at = now  # reading paused: the last write to the client, or check

    @property
    def finals_sent(self) -> int:
        return self._results.finals_sent

    # ---- the one entry point -----------------------------------------------------------------
    def handle(self, event: Event, now: float) -> list[Command]:
        if self.state is State.CLOSED:
            return []
        if self._lost is not None:
            if isinstance(event, BackendReplaced):
                return self._lost_answered(event.start, now)
            if isinstance(event, NoOtherBackend):
                return self._lost_answered(None, now)
            if isinstance(event, _BACKEND_EVENTS):
                return []  # from the backend that was lost
        if isinstance(event, Delivered):
            return self._delivered(event.size, now)
        if isinstance(event, (Recognizing, Recognized, SynthesisAudio, SynthesisCompleted)):
            return self._backend_result(event, now)
        if isinstance(event, Canceled):
            if event.reason == "Error":
                return self._backend_failed(failure_for_cancellation(event.code), code=event.code)
            return []  # EndOfStream: the Stopped that follows decides
        if isinstance(event, Stopped):
            if self.state is State.FLUSHING:
                if self._results.respeaking:
                    self._backend_done = True  # the re-spoken final's speech comes first
                    return []
                return self._finish()
            return self._backend_failed(Failure.BACKEND_ERROR, "Speech backend ended the session")
        if isinstance(event, AudioReceived):
            return self._audio_received(event, now)
        if isinstance(event, Tick):
            return self._tick(now)
        if isinstance(event, (ClientClosed, ClientEnded)):
            return self._begin_flush(Failure.COMPLETED, now)
        if isinstance(event, (ClientGone, ClientNotReading)):
            gone = isinstance(event, ClientGone)
            return self._abandon(Failure.CLIENT_GONE if gone else Failure.CLIENT_NOT_READING)
        if isinstance(event, TextReceived):
            return self._close(Failure.TEXT_FRAME)
        if isinstance(event, ProtocolViolation):
            failure = Failure.INVALID_DATA if event.invalid_data else Failure.PROTOCOL_ERROR
            return self._close(failure, event.message)
        if isinstance(event, ShutdownRequested):
            return self._close(Failure.SERVER_SHUTDOWN)
        if isinstance(event, BackendStartFailed):
            return self._backend_failed(Failure.BACKEND_ERROR)
        if isinstance(event, Resynthesized):
            return self._respoken(event.audio, now)
        if isinstance(event, ResynthesisFailed):
            if not self._results.respeaking:
                return []
            return self._backend_failed(failure_for_cancellation(event.code), code=event.code)
        if isinstance(event, (BackendReplaced, NoOtherBackend)):
            return []  # no move was asked for
        raise TypeError(f"not a session event: {event!r}")

    def next_deadline(self) -> float | None:
        """The next moment a :class:`Tick` could change something (None: nothing pending)."""
        if self.state is State.CLOSED:
            return None
        limits = self.limits
        deadlines = []
        if self._tts_deadline is not None:
            deadlines.append(self._tts_deadline)
        # While the edge moves the session the backend owes nothing: no stall, no flush.
        if self._lost is None and (stall := self._stall_deadline()) is not None:
            deadlines.append(stall)
        if self.state is State.FLUSHING:
            if self._lost is None:
                deadlines.append(self._flush_deadline)
        else:
            deadlines.append(self._started + limits.max_session)
            if not self._pauses.any:
                deadlines.append(self._idle_since + limits.idle_timeout)
            else:
                deadlines.append(self._checked_at + limits.liveness_timeout / 2)
        return min(deadlines, default=None)

    # ---- client audio ------------------------------------------------------------------------
    def _audio_received(self, event: AudioReceived, now: float) -> list[Command]:
        if self.state is not State.STREAMING:
            return []  # after a Close, or while flushing: nothing more goes to the backend
        if self._input:  # the edge holds data while paused: a bug if it did not
            raise RuntimeError("audio received while the last piece still waits")
        try:
            if event.message_start:
                self._normalizer.start_message()
        except SessionError as error:
            return self._close(error.failure, close_for_error(error).reason)
        self._idle_since = now
        self._input = event.data
        return self._convert(now) + self._check_stall(now)

    def _convert(self, now: float) -> list[Command]:
        """Convert what waits, a step at a time, while the read-ahead has room."""
        out: list[Command] = []
        normalizer = self._normalizer
        while self._input and not self._pauses.backend:
            take = normalizer.input_for(CONVERT_STEP_BYTES)
            data = self._input
            if take >= len(data):
                piece, self._input = data, b""  # the common case: a piece goes whole
            else:
                view = memoryview(data)
                piece, self._input = view[:take], view[take:]
            try:
                pcm = normalizer.feed(piece)
            except SessionError as error:
                self._input = b""
                return out + self._close(error.failure, close_for_error(error).reason)
            if pcm:
                out += self._write(pcm, now)
        return out

    def _write(self, pcm: bytes, now: float) -> list[Command]:
        audio = self._audio
        voiced = voiced_blocks(pcm, audio.written)
        audio.voiced.extend(voiced)
        if self._may_move:
            audio.kept_voiced.extend(voiced)
        audio.written += bytes_to_ticks(len(pcm))
        out: list[Command] = [WriteAudio(pcm)]
        if not self._pauses.backend and self._too_far_ahead():
            out += self._pause(now, backend=True)
        return out

    def _too_far_ahead(self) -> bool:
        """Reading must wait for the backend (module docstring: read-ahead)."""
        audio, ahead = self._audio, AUDIO_AHEAD_SECONDS * TICKS_PER_SECOND
        owed = audio.owed()
        if owed >= ahead:
            return True
        return (
            self._may_move
            and audio.kept() >= ahead
            and owed >= CAUGHT_UP_SECONDS * TICKS_PER_SECOND
        )

    def _room_again(self) -> bool:
        """Reading paused for the backend may go on (half the read-ahead is free again)."""
        audio, half = self._audio, AUDIO_AHEAD_SECONDS * TICKS_PER_SECOND / 2
        owed = audio.owed()
        if owed >= half:
            return False
        return (
            not self._may_move or audio.kept() < half or owed < CAUGHT_UP_SECONDS * TICKS_PER_SECOND
        )

    # ---- backend results ---------------------------------------------------------------------
    def _backend_result(
        self, event: Recognizing | Recognized | SynthesisAudio | SynthesisCompleted, now: float
    ) -> list[Command]:
        self._last_event = now
        results = self._results
        out: list[Outgoing] = []
        commands: list[Command] = []
        try:
            if isinstance(event, Recognizing):
                offset = event.offset + self._base
                self._heard(offset + event.duration, speech=bool(event.text))
                out = results.recognizing(event.text, event.translation, offset, event.duration)
            elif isinstance(event, Recognized):
                offset = event.offset + self._base
                end = offset + event.duration
                self._heard(end, speech=event.matched and not event.silence)
                if not event.silence:  # silence is not a false recognition: no legacy final
                    out = results.recognized(
                        event.matched, event.text, event.translation, offset, event.duration
                    )
                elif not results.awaiting_tts:  # nothing held back: nothing owed before it
                    commands += self._keep(end)
            elif isinstance(event, SynthesisAudio):
                out = results.synthesis_audio(event.audio)
            else:
                out = results.synthesis_completed()
        except LegacyError as error:
            return self._close(error.failure, close_for_error(error).reason)
        commands += self._sends(out)
        self._tts_progress(now, began=isinstance(event, SynthesisAudio))
        if self._pauses.backend and (
            self._room_again()
            # Azure ends a turn on silence, and the SDK starts the next one only when it is
            # given more audio: a read-ahead paused until more is acknowledged would wait
            # forever.
            or (isinstance(event, Recognized) and event.silence)
        ):
            self._pauses.backend = False
            commands += self._convert(now)  # what waits goes first; it may fill the room again
            if not self._pauses.backend:
                commands += self._resume(now=now)
        if self.state is State.STREAMING and self._long_silence():
            commands += self._begin_flush(Failure.LONG_SILENCE, now)
        return commands

    def _tts_progress(self, now: float, *, began: bool) -> None:
        """The TTS deadline: none without a final's speech waiting; restarted when one began
        (or ``began``: progressed)."""
        if not self._results.awaiting_tts:
            self._tts_deadline = None
        elif self._tts_deadline is None or began:
            self._tts_deadline = now + self.limits.tts_timeout

    def _keep(self, tick: int) -> list[Command]:
        """A final ending at ``tick`` was sent (or silence acknowledged with nothing held):
        a next backend starts there."""
        audio = self._audio
        if not self._may_move or tick <= audio.kept_from:
            return []
        audio.kept_from = tick
        kept_voiced = audio.kept_voiced
        while kept_voiced and kept_voiced[0] < tick:
            kept_voiced.popleft()
        return [KeepAudioFrom(tick)]

    def _heard(self, end: int, *, speech: bool) -> None:
        audio = self._audio
        audio.heard = max(audio.heard, end)
        if speech:
            audio.speech_end = max(audio.speech_end, end)
        voiced = audio.voiced
        while voiced and voiced[0] < audio.heard:
            voiced.popleft()

    def _long_silence(self) -> bool:
        audio = self._audio
        silent = audio.heard - audio.speech_end
        return silent >= self.limits.silence_timeout * TICKS_PER_SECOND

    # ---- the watchdog ------------------------------------------------------------------------
    def _stall_deadline(self) -> float | None:
        """When the backend counts as stalled if it stays quiet (None: it owes nothing yet).

        Speech must be answered within ``backend_timeout`` of wall time — once the backend
        has had ``backend_timeout`` seconds of audio after it, or the end of audio. Silence
        needs no answer of its own: a backend that owes only silence also gets real time to go
        through it (a burst's 100 s of trailing silence takes a real-time service 100 s), and
        a hang then loses no results.
        """
        if self._results.awaiting_tts:
            return None  # the TTS deadline covers a synthesis in progress
        audio = self._audio
        flushing = self.state is State.FLUSHING
        quiet_since = max(self._last_event, self._flush_started) if flushing else self._last_event
        budget = self.limits.backend_timeout * TICKS_PER_SECOND
        voiced = audio.voiced
        if len(voiced) >= SPEECH_BLOCKS_OWED and (flushing or audio.written - voiced[0] >= budget):
            return quiet_since + self.limits.backend_timeout
        if not flushing and not self._pauses.backend:
            return None  # silence owed while streaming: watched once the read-ahead is full
        return quiet_since + self.limits.backend_timeout + audio.owed() / TICKS_PER_SECOND

    def _check_stall(self, now: float) -> list[Command]:
        # Deadlines compare as `now >= start + timeout`, exactly as next_deadline() adds them.
        deadline = self._stall_deadline()
        if deadline is None or now < deadline:
            return []
        if self.state is State.FLUSHING:
            warn = "backend stopped answering after the end of audio"
            return self._backend_failed(Failure.BACKEND_STALLED, warn=warn)
        return self._backend_failed(Failure.BACKEND_STALLED)

    # ---- time --------------------------------------------------------------------------------
    def _tick(self, now: float) -> list[Command]:
        limits = self.limits
        out: list[Command] = []
        if self._tts_deadline is not None and now >= self._tts_deadline:
            self._tts_deadline = None
            self._tts_cut_short = True
            out += [Warn("text-to-speech of a final did not complete in time; sent what arrived")]
            out += self._sends(self._results.cut_speech())
            self._tts_progress(now, began=False)
        if self.state is State.FLUSHING:
            if self._lost is not None:
                return out
            if self._backend_done and not self._results.respeaking:
                return out + self._finish()
            if now >= self._flush_deadline:
                return out + self._backend_failed(
                    Failure.RESULTS_INCOMPLETE, warn="results still pending at flush timeout"
                )
            return out + self._check_stall(now)
        if now >= self._started + limits.max_session:
            return out + self._begin_flush(Failure.SESSION_CAP, now)
        if not self._pauses.any and now >= self._idle_since + limits.idle_timeout:
            return out + self._begin_flush(Failure.IDLE_TIMEOUT, now)
        if self._pauses.any and now >= self._checked_at + limits.liveness_timeout / 2:
            self._checked_at = now
            out.append(CheckClient())
        return out + self._check_stall(now)

    # ---- flow control ------------------------------------------------------------------------
    def _sends(self, out: list[Outgoing]) -> list[Command]:
        commands: list[Command] = []
        for item in out:
            command: SendResult | SendTts = (
                SendResult(item.text, item.kind)
                if isinstance(item, TextOut)
                else SendTts(item.wav, item.final_id)
            )
            self._unsent += command.size
            commands.append(command)
            if isinstance(item, TextOut) and item.kind == "final":
                commands += self._keep(item.end)
        if self._unsent > OUTBOX_HIGH_BYTES and not self._pauses.client:
            commands += self._pause(None, client=True)
        return commands

    def _delivered(self, size: int, now: float) -> list[Command]:
        self._unsent = max(0, self._unsent - size)
        self._checked_at = now  # a write reaches the client's TCP: as good as a check
        if self._pauses.client and self._unsent < OUTBOX_LOW_BYTES:
            return self._resume(client=True, now=now)
        return []

    def _pause(
        self, now: float | None, *, backend: bool = False, client: bool = False
    ) -> list[Command]:
        """``now``: when the pause begins (None: a send caused it; the last check stands)."""
        was = self._pauses.any
        self._pauses.backend |= backend
        self._pauses.client |= client
        if was or self.state is not State.STREAMING:
            return []
        if now is not None:
            self._checked_at = now
        return [PauseReading()]

    def _resume(self, *, backend: bool = False, client: bool = False, now: float) -> list[Command]:
        if backend:
            self._pauses.backend = False
        if client:
            self._pauses.client = False
        if self._pauses.any or self.state is not State.STREAMING:
            return []
        self._idle_since = max(self._idle_since, now)  # a pause is not the client being idle
        return [ResumeReading()]

    # ---- a backend lost: moving to another ---------------------------------------------------
    def _backend_failed(
        self,
        failure: Failure,
        reason: str = "",
        *,
        code: str | None = None,
        warn: str | None = None,
    ) -> list[Command]:
        """Close as ``failure`` says, unless the session can still move (module docstring)."""
        if not self._may_move or self._tts_cut_short:
            return self._close(failure, reason, warn=warn)
        if self._lost is not None:
            return []  # already moving
        self._lost = (failure, reason, warn)
        return [BackendLost(failure, code, self._audio.kept_from)]

    def _lost_answered(self, start: int | None, now: float) -> list[Command]:
        """The edge's answer to :class:`BackendLost`: the new backend's start, or None."""
        assert self._lost is not None
        failure, reason, warn = self._lost
        self._lost = None
        if start is None:
            return self._close(failure, reason, warn=warn)
        # The new backend hears the audio from `start` again, and gets its own time.
        audio = self._audio
        self._base = start
        audio.heard = start
        audio.voiced = collections.deque(b for b in audio.kept_voiced if b >= start)
        self._last_event = now
        self._backend_done = False
        out: list[Command] = []
        respeak = self._results.restart()
        if respeak is not None:
            out.append(Resynthesize(*respeak))
        self._tts_deadline = None
        self._tts_progress(now, began=True)
        if self.state is State.FLUSHING:
            self._flush_started = now
            owed_seconds = audio.owed() / TICKS_PER_SECOND
            self._flush_deadline = now + self.limits.flush_timeout + owed_seconds
        return out

    def _respoken(self, audio: bytes, now: float) -> list[Command]:
        """The re-spoken final's speech: sent, then what the new backend said meanwhile."""
        if not self._results.respeaking:
            return []  # given up on meanwhile (its timeout)
        try:
            out = self._sends(self._results.respoken(audio))
        except LegacyError as error:
            return self._close(error.failure, close_for_error(error).reason)
        self._tts_progress(now, began=True)
        if self._backend_done and self.state is State.FLUSHING:
            out += self._finish()
        return out

    # ---- endings -----------------------------------------------------------------------------
    def _begin_flush(self, why: Failure, now: float) -> list[Command]:
        if self.state is not State.STREAMING:
            return []
        self.state = State.FLUSHING
        self._flush = why
        self._flush_started = now
        self._input = b""  # audio past the end (session cap, long silence): unheard
        # The backend gets flush_timeout, plus the audio it still has to go through: a burst
        # client's last minute of audio takes a real-time service a minute.
        owed_seconds = self._audio.owed() / TICKS_PER_SECOND
        self._flush_deadline = now + self.limits.flush_timeout + owed_seconds
        out: list[Command] = []
        try:
            tail = self._normalizer.finish()
        except SessionError:
            tail = b""
        if tail:
            out.append(WriteAudio(tail))
        out.append(EndAudio())
        if self._pauses.any:
            # Keep reading: a client that drops its connection now must be noticed at once.
            self._pauses = _Pauses()
            out.append(ResumeReading())
        return out

    def _finish(self) -> list[Command]:
        """The backend stopped after the end of audio: every result it had is in."""
        assert self._flush is not None
        if self._results.awaiting_tts or self._tts_cut_short:
            return self._close(
                Failure.RESULTS_INCOMPLETE,
                "text-to-speech of a result did not complete",
                warn="text-to-speech of a final was cut short",
            )
        return self._close(self._flush)

    def _close(
        self, failure: Failure, reason: str = "", *, warn: str | None = None
    ) -> list[Command]:
        """Close after every result held so far: they are owed even when the session fails."""
        out: list[Command] = [Warn(warn)] if warn else []
        out += self._sends(self._results.release())
        closing = close_for(failure, reason)
        self.state = State.CLOSED
        self._tts_deadline = None
        self.ending = Ending(failure, closing.code, closing.reason)
        return [*out, CloseSession(closing.code, closing.reason)]

    def _abandon(self, failure: Failure) -> list[Command]:
        self.state = State.CLOSED
        self._tts_deadline = None
        gone = failure is Failure.CLIENT_GONE
        reason = "client connection lost" if gone else "client stopped reading results"
        if gone and self._pauses.any:
            reason += " while its reading was paused"  # found by a check (CheckClient)
        self.ending = Ending(failure, None, reason)
        return [Abandon(reason)]
