"""The conduct of one legacy session, sans-I/O: every decision between handshake and close.

In the style of h11 and of mitmproxy's proxy layers: the executor turns what happens — client
frames, Speech SDK events, the passing of time — into events and calls
:meth:`SessionConduct.handle`; the core answers with commands (send a result, write audio to
the backend, pause reading, close) that the executor carries out in order. The core does no
I/O and reads no clock: every call carries ``now`` (monotonic seconds), so playbook tests can
replay any timeline.

What it decides:

* **Honest endings.** The session closes 1000 only when every final it owes was sent: after
  the client's Close (ER1), an idle timeout, long silence or the session cap (ER2), audio is
  ended and the core waits for the backend's ``Stopped``. A backend failure, a stalled
  backend, a flush that runs out, or a final whose text-to-speech never completed ends the
  session 1011 (1001 where the backend asked to retry later, ER3), also after the client's
  Close. All codes come from :mod:`shim.legacy.errors`.
* **Moving to another backend.** A session made with ``may_move`` whose backend fails (a
  cancellation — the SDK's own reconnects gave up —, an early stop, a start that failed, a
  stall, a flush that ran out) does not close: it asks the executor to go on on another Speech
  resource (:class:`BackendLost`), from the end of the last final it sent (``resume_at``;
  0 before any). The executor keeps the audio from there on (:class:`KeepAudioFrom` follows
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
* **The watchdog and the read-ahead** (:mod:`shim.legacy.watchdog`): when a backend that
  says nothing is stalled, and how far ahead of its answers the backend may be given audio
  before the core pauses reading the client.
* **The client's side** (:mod:`shim.legacy.client_flow`): slow readers, the write timeout,
  a client's half-close, liveness checks while reading is paused, idleness.

The states and every move between them are in :data:`TRANSITIONS` (as h11 keeps them):
``STREAMING`` → ``FLUSHING`` (audio ended) → ``CLOSING`` (Close issued; the sends before it
are still written) → ``CLOSED`` (abandoned; nothing more happens); :meth:`SessionConduct._enter`
is the only place the state changes. The vocabulary (limits, events, commands) is in
:mod:`shim.legacy.vocabulary`; the audio accounting and the watchdog in
:mod:`shim.legacy.watchdog`; the ordering of results in :mod:`shim.legacy.sequencer`.

One piece, over 500 lines: one state machine, whose transitions and the decisions that depend
on its state read together; its vocabulary, audio accounting, client traffic and result order
are modules of their own.

Memory: a session's core holds the audio normaliser's state (one sample frame and the
resampler), at most one received piece of audio not yet converted (one socket read, 256 KiB,
given by the executor), the results held behind a final's pending TTS (bounded by what the
backend may produce for the read-ahead window), and the watchdog's loud blocks
(:mod:`shim.legacy.watchdog`). The backend is given at most ``AUDIO_AHEAD_SECONDS`` plus one
step of audio it has not answered, whatever the format.
"""

from __future__ import annotations

import enum

from shim.legacy.audio import AudioNormalizer
from shim.legacy.client_flow import ClientFlow, Pauses
from shim.legacy.errors import (
    FINALS_LOST_REASON,
    Failure,
    LegacyError,
    SessionError,
    close_for,
    close_for_error,
    failure_for_cancellation,
)
from shim.legacy.request import SessionRequest
from shim.legacy.sequencer import ResultSequencer
from shim.legacy.vocabulary import (
    BACKEND_EVENTS,
    Abandon,
    AudioReceived,
    BackendEvent,
    BackendLost,
    BackendReplaced,
    CheckClient,
    ClientClosed,
    ClientEnded,
    ClientGone,
    CloseSession,
    Command,
    Delivered,
    EndAudio,
    Ending,
    Event,
    KeepAudioFrom,
    Limits,
    NoOtherBackend,
    PauseReading,
    ProtocolViolation,
    ResumeReading,
    Resynthesize,
    Resynthesized,
    Send,
    SendResult,
    ShutdownRequested,
    StartReading,
    TextReceived,
    Tick,
    Warn,
    WriteAudio,
)
from shim.legacy.watchdog import CONVERT_STEP_BYTES, AudioLedger
from shim.speech.events import (
    BackendStarted,
    BackendStartFailed,
    Canceled,
    Recognized,
    Recognizing,
    Stopped,
    SynthesisAudio,
    SynthesisCompleted,
)


class State(enum.Enum):
    STREAMING = "streaming"  # client audio flows to the backend
    FLUSHING = "flushing"  # audio ended: waiting for the backend's last results (ER1)
    CLOSING = "closing"  # CloseSession issued: the sends before it are still being written
    CLOSED = "closed"  # abandoned (or closed with nothing left to write): nothing more happens


# Every state change the core makes, and nothing else (h11 keeps its transitions the same way).
TRANSITIONS: dict[State, frozenset[State]] = {
    State.STREAMING: frozenset({State.FLUSHING, State.CLOSING, State.CLOSED}),
    State.FLUSHING: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}


class SessionConduct:
    """One session's decisions. Feed every event to :meth:`handle`; execute what it returns."""

    def __init__(
        self, request: SessionRequest, limits: Limits, now: float, *, may_move: bool = False
    ) -> None:
        """``may_move``: the executor can go on with the session on another backend."""
        self.limits = limits
        self._may_move = may_move
        self._lost: tuple[Failure, str, str | None] | None = None  # awaiting the executor's answer
        self._base = 0  # ticks: where the current backend's audio starts in the session's
        self._backend_done = False  # it stopped after the end of audio; a final is re-spoken
        self.state = State.STREAMING
        self.ending: Ending | None = None
        self._reading = False  # StartReading given (once a backend started)
        self._results = ResultSequencer(request)
        self._normalizer = AudioNormalizer()
        self._audio = AudioLedger(may_move)
        self._flow = ClientFlow(now)
        self._now = now  # the time of the event being handled
        self._started = now
        self._last_event = now  # the backend's last sign of life
        self._flush: Failure | None = None  # why audio ended, while flushing
        self._flush_started = 0.0
        self._flush_deadline = 0.0
        self._tts_deadline: float | None = None
        self._tts_cut_short = False
        self._input: bytes | memoryview = b""  # received audio not yet converted (one piece)

    @property
    def finals_sent(self) -> int:
        return self._results.finals_sent

    @property
    def closed(self) -> bool:
        """CloseSession or Abandon issued."""
        return self.state in (State.CLOSING, State.CLOSED)

    def _enter(self, state: State) -> None:
        """The one place the state changes: only along :data:`TRANSITIONS`."""
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"no transition from {self.state.value} to {state.value}")
        self.state = state

    # ---- the one entry point -----------------------------------------------------------------
    def handle(self, event: Event, now: float) -> list[Command]:
        self._now = now
        if self.state is State.CLOSED:
            return []
        if self.state is State.CLOSING:
            return self._closing(event, now)
        if isinstance(event, Tick):
            return self._tick(now)
        if isinstance(event, Delivered):
            return self._delivered(event.size, now)
        if isinstance(event, BackendStarted):
            return self._start_reading()
        if self._lost is not None:
            if isinstance(event, BackendReplaced):
                return self._lost_answered(event.start, now)
            if isinstance(event, NoOtherBackend):
                return self._lost_answered(None, now)
            if isinstance(event, BACKEND_EVENTS):
                return []  # from the backend that was lost
        if isinstance(event, BACKEND_EVENTS):
            return self._backend_event(event, now)
        return self._client_event(event, now)

    def _closing(self, event: Event, now: float) -> list[Command]:
        """Close issued: only the sends before it, and a client that stops taking them."""
        if isinstance(event, Delivered):
            return self._delivered(event.size, now)
        if isinstance(event, Tick) and self._write_overdue(now):
            return self._abandon(Failure.CLIENT_NOT_READING)
        if isinstance(event, ClientGone) and self._flow.unsent:
            return self._abandon(Failure.CLIENT_GONE)
        return []

    def _backend_event(self, event: BackendEvent, now: float) -> list[Command]:
        if isinstance(event, (Recognizing, Recognized, SynthesisAudio, SynthesisCompleted)):
            return self._backend_result(event, now)
        if isinstance(event, Canceled):
            if event.reason == "Error":
                return self._backend_failed(failure_for_cancellation(event.code), code=event.code)
            return []  # EndOfStream: the Stopped that follows decides
        if isinstance(event, Stopped):
            if self.state is State.FLUSHING:
                if self._audio.finals_missing():
                    return self._backend_failed(
                        Failure.BACKEND_ERROR,
                        FINALS_LOST_REASON,
                        warn="the Speech backend stopped owing finals for speech it was given",
                    )
                if self._results.respeaking:
                    self._backend_done = True  # the re-spoken final's speech comes first
                    return []
                return self._finish()
            return self._backend_failed(Failure.BACKEND_ERROR, "Speech backend ended the session")
        if isinstance(event, BackendStartFailed):
            return self._backend_failed(Failure.BACKEND_ERROR)
        if isinstance(event, Resynthesized):
            return self._respoken(event.audio, now)
        if not self._results.respeaking:
            return []  # a re-spoken final given up on meanwhile
        return self._backend_failed(failure_for_cancellation(event.code), code=event.code)

    def _client_event(self, event: Event, now: float) -> list[Command]:
        if isinstance(event, AudioReceived):
            return self._audio_received(event, now)
        if isinstance(event, (ClientClosed, ClientEnded)):
            return self._begin_flush(Failure.COMPLETED, now)
        if isinstance(event, ClientGone):
            return self._abandon(Failure.CLIENT_GONE)
        if isinstance(event, TextReceived):
            return self._close(Failure.TEXT_FRAME)
        if isinstance(event, ProtocolViolation):
            failure = Failure.INVALID_DATA if event.invalid_data else Failure.PROTOCOL_ERROR
            return self._close(failure, event.message)
        if isinstance(event, ShutdownRequested):
            return self._close(Failure.SERVER_SHUTDOWN)
        if isinstance(event, (BackendReplaced, NoOtherBackend)):
            return []  # no move was asked for
        raise TypeError(f"not a session event: {event!r}")

    def next_deadline(self) -> float | None:
        """The next moment a :class:`Tick` could change something (None: nothing pending)."""
        deadlines = []
        write = self._flow.write_deadline(self.limits.write_timeout)
        if write is not None and self.state is not State.CLOSED:
            deadlines.append(write)
        if self.closed:
            return min(deadlines, default=None)
        limits = self.limits
        if self._tts_deadline is not None:
            deadlines.append(self._tts_deadline)
        # While the executor moves the session the backend owes nothing: no stall, no flush.
        if self._lost is None and (stall := self._stall_deadline()) is not None:
            deadlines.append(stall)
        if self.state is State.FLUSHING:
            if self._lost is None:
                deadlines.append(self._flush_deadline)
        else:
            deadlines.append(self._started + limits.max_session)
            deadlines.append(self._flow.deadline(limits.idle_timeout, limits.liveness_timeout))
        return min(deadlines, default=None)

    def _start_reading(self) -> list[Command]:
        """A backend started: the client's data flows (once; a move keeps it flowing)."""
        if self._reading:
            return []
        self._reading = True
        return [StartReading()]

    # ---- client audio ------------------------------------------------------------------------
    def _audio_received(self, event: AudioReceived, now: float) -> list[Command]:
        if self.state is not State.STREAMING:
            return []  # while flushing: nothing more goes to the backend
        if self._input:  # the executor holds data while paused: a bug if it did not
            raise RuntimeError("audio received while the last piece still waits")
        try:
            if event.message_start:
                self._normalizer.start_message()
        except SessionError as error:
            return self._close(error.failure, close_for_error(error).reason)
        self._flow.idle_since = now
        self._input = event.data
        return self._convert(now) + self._check_stall(now)

    def _convert(self, now: float) -> list[Command]:
        """Convert what waits, a step at a time, while the read-ahead has room."""
        out: list[Command] = []
        normalizer = self._normalizer
        while self._input and not self._flow.pauses.backend:
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
                self._audio.wrote(pcm)
                out.append(WriteAudio(pcm))
                if not self._flow.pauses.backend and self._audio.too_far_ahead():
                    out += self._pause(now, backend=True)
        return out

    # ---- backend results ---------------------------------------------------------------------
    def _backend_result(
        self, event: Recognizing | Recognized | SynthesisAudio | SynthesisCompleted, now: float
    ) -> list[Command]:
        self._last_event = now
        results = self._results
        out: list[Send] = []
        commands: list[Command] = []
        try:
            if isinstance(event, Recognizing):
                offset = event.offset + self._base
                if event.text and self._audio.skips_a_final(offset):
                    return self._backend_failed(
                        Failure.BACKEND_ERROR,
                        FINALS_LOST_REASON,
                        warn="the Speech backend went on to new speech without the last final",
                    )
                end = offset + event.duration
                self._audio.answered(offset, end, speech=bool(event.text), final=False)
                out = results.recognizing(event.text, event.translation, offset, event.duration)
            elif isinstance(event, Recognized):
                offset = event.offset + self._base
                end = offset + event.duration
                speech = event.matched and not event.silence
                self._audio.answered(offset, end, speech=speech, final=True)
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
        if self._flow.pauses.backend and (
            self._audio.room_again()
            # Azure ends a turn on silence, and the SDK starts the next one only when it is
            # given more audio: a read-ahead paused until more is acknowledged would wait
            # forever.
            or (isinstance(event, Recognized) and event.silence)
        ):
            self._flow.pauses.backend = False
            commands += self._convert(now)  # what waits goes first; it may fill the room again
            if not self._flow.pauses.backend:
                commands += self._resume(now=now)
        if self.state is State.STREAMING and self._audio.long_silence(self.limits.silence_timeout):
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
        return [KeepAudioFrom(tick)] if self._audio.keep_from(tick) else []

    # ---- the watchdog ------------------------------------------------------------------------
    def _stall_deadline(self) -> float | None:
        """When the backend counts as stalled if it stays quiet (:mod:`shim.legacy.watchdog`)."""
        if self._results.awaiting_tts:
            return None  # the TTS deadline covers a synthesis in progress
        flushing = self.state is State.FLUSHING
        quiet_since = max(self._last_event, self._flush_started) if flushing else self._last_event
        return self._audio.stall_deadline(
            quiet_since,
            self.limits.backend_timeout,
            flushing=flushing,
            paused=self._flow.pauses.backend,
        )

    def _check_stall(self, now: float) -> list[Command]:
        # Deadlines compare as `now >= start + timeout`, exactly as next_deadline() adds them.
        deadline = self._stall_deadline()
        if deadline is None or now < deadline:
            return []
        if self.state is State.FLUSHING:
            warn = "backend stopped answering after the end of audio"
            return self._backend_failed(Failure.BACKEND_STALLED, warn=warn)
        return self._backend_failed(Failure.BACKEND_STALLED)

    def _write_overdue(self, now: float) -> bool:
        return self._flow.write_overdue(now, self.limits.write_timeout)

    # ---- time --------------------------------------------------------------------------------
    def _tick(self, now: float) -> list[Command]:
        if self._write_overdue(now):
            return self._abandon(Failure.CLIENT_NOT_READING)
        out: list[Command] = []
        if self._tts_deadline is not None and now >= self._tts_deadline:
            self._tts_deadline = None
            self._tts_cut_short = True
            out += [Warn("text-to-speech of a final did not complete in time; sent what arrived")]
            out += self._sends(self._results.cut_speech())
            self._tts_progress(now, began=False)
        if self.state is State.FLUSHING:
            return out + self._flushing_tick(now)
        limits = self.limits
        if now >= self._started + limits.max_session:
            return out + self._begin_flush(Failure.SESSION_CAP, now)
        if self._flow.idle(now, limits.idle_timeout):
            return out + self._begin_flush(Failure.IDLE_TIMEOUT, now)
        if self._flow.check_due(now, limits.liveness_timeout):
            out.append(CheckClient())
        return out + self._check_stall(now)

    def _flushing_tick(self, now: float) -> list[Command]:
        if self._lost is not None:
            return []
        if self._backend_done and not self._results.respeaking:
            return self._finish()
        if now >= self._flush_deadline:
            return self._backend_failed(
                Failure.RESULTS_INCOMPLETE, warn="results still pending at flush timeout"
            )
        return self._check_stall(now)

    # ---- flow control ------------------------------------------------------------------------
    def _sends(self, sends: list[Send]) -> list[Command]:
        commands: list[Command] = []
        for send in sends:
            self._flow.sent(send.size, self._now)
            commands.append(send)
            if isinstance(send, SendResult) and send.kind == "final":
                commands += self._keep(send.end)
        if self._flow.backed_up:
            commands += self._pause(None, client=True)
        return commands

    def _delivered(self, size: int, now: float) -> list[Command]:
        if self._flow.delivered(size, now):
            return self._resume(client=True, now=now)
        return []

    def _pause(
        self, now: float | None, *, backend: bool = False, client: bool = False
    ) -> list[Command]:
        reading = self.state is State.STREAMING
        paused = self._flow.pause(now, backend=backend, client=client, reading=reading)
        return [PauseReading()] if paused else []

    def _resume(self, *, backend: bool = False, client: bool = False, now: float) -> list[Command]:
        reading = self.state is State.STREAMING
        resumed = self._flow.resume(now, backend=backend, client=client, reading=reading)
        return [ResumeReading()] if resumed else []

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
        """The executor's answer to :class:`BackendLost`: the new backend's start, or None."""
        assert self._lost is not None
        failure, reason, warn = self._lost
        self._lost = None
        if start is None:
            return self._close(failure, reason, warn=warn)
        # The new backend hears the audio from `start` again, and gets its own time.
        self._base = start
        self._audio.restart(start)
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
            self._flush_deadline = now + self.limits.flush_timeout + self._audio.owed_seconds()
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
        self._enter(State.FLUSHING)
        self._flush = why
        self._flush_started = now
        self._input = b""  # audio past the end (session cap, long silence): unheard
        # The backend gets flush_timeout, plus the audio it still has to go through: a burst
        # client's last minute of audio takes a real-time service a minute.
        self._flush_deadline = now + self.limits.flush_timeout + self._audio.owed_seconds()
        out: list[Command] = []
        try:
            tail = self._normalizer.finish()
        except SessionError:
            tail = b""
        if tail:
            out.append(WriteAudio(tail))
        out.append(EndAudio())
        if self._flow.pauses.any:
            # Keep reading: a client that drops its connection now must be noticed at once.
            self._flow.pauses = Pauses()
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
        self._enter(State.CLOSING)
        self._tts_deadline = None
        self.ending = Ending(failure, closing.code, closing.reason)
        return [*out, CloseSession(closing.code, closing.reason)]

    def _abandon(self, failure: Failure) -> list[Command]:
        """The client cannot be reached; after a Close, the ending stays the Close's."""
        gone = failure is Failure.CLIENT_GONE
        reason = "client connection lost" if gone else "client stopped reading results"
        if gone and self._flow.pauses.any and self.state is not State.CLOSING:
            reason += " while its reading was paused"  # found by a check (CheckClient)
        if self.ending is None:
            self.ending = Ending(failure, None, reason)
        self._enter(State.CLOSED)
        self._tts_deadline = None
        self._flow.write_since = None
        return [Abandon(reason)]
