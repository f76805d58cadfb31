"""A session's audio accounting, sans-I/O: what the backend was given and has answered, the
read-ahead and the watchdog (the decisions are :mod:`shim.legacy.conduct`'s).

* **The watchdog**, measured in audio time: a backend owes an answer once it has been given
  speech (loud audio, :mod:`shim.legacy.loudness`) and then ``backend_timeout`` more seconds
  of audio (or the end of audio); it is stalled when it owes an answer and has said nothing
  for ``backend_timeout`` seconds of wall time as well (a burst client's audio arrives long
  before the backend can have processed it). Silence needs no answer of its own (Azure may
  take ~20 s of it to acknowledge; a hang then loses no results): a backend that owes only
  silence is watched once the read-ahead is full or the audio has ended, and also gets real
  time to go through it.
* **Finals owed.** The service ends every hypothesis with a phrase before it goes on (the
  SDKs' ``Recognizing`` events end in a ``Recognized``). A hypothesis of new speech while the
  last one has no final, or a backend that stops after such a hypothesis, lost a final; so
  did one that stops having answered nothing for a second of speech it was given (an SDK
  that never connected). The core fails the backend rather than end 1000 without it.
* **Read-ahead.** Audio goes to the backend at most ``AUDIO_AHEAD_SECONDS`` ahead of what it
  has answered; beyond that the core pauses reading the client (TCP backpressure), so a
  whole-file client cannot park minutes of audio in the server. A session that may move
  also pauses once the audio kept for a move (from the end of the last final) reaches
  ``AUDIO_AHEAD_SECONDS`` — unless the backend has heard all but ``CAUGHT_UP_SECONDS`` of
  it: then it waits for more audio to end a phrase longer than the read-ahead, pausing could
  never end, and the kept audio grows on to the executor's hard limit (past which the session
  can no longer move until its next final). Received audio is converted
  in steps of at most ``CONVERT_STEP_BYTES`` of 16 kHz PCM and the read-ahead is checked
  after each step, so a format that multiplies on conversion (1 kHz 8-bit: 32 times) never
  gets further ahead than one step; what is left of a received piece waits, unconverted,
  until there is room. Each acknowledged silence lets one more step through: the SDK goes on
  after a turn Azure ended only when given audio.

Memory: the start ticks of unanswered loud 100 ms blocks (at most ``AUDIO_AHEAD_SECONDS ×
10`` plus one conversion step's) and, for a session that may move, of the loud blocks after
the last final (ten per second of the kept audio, bounded by the executor's replay limit).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from shim.audiotime import TICKS_PER_SECOND, bytes_to_ticks
from shim.legacy.loudness import voiced_blocks

AUDIO_AHEAD_SECONDS = 60.0  # read-ahead of the backend: ~1.9 MB of 16 kHz PCM at most
CONVERT_STEP_BYTES = 64 << 10  # 16 kHz PCM converted per step (2 s): the read-ahead's overshoot
SPEECH_BLOCKS_OWED = 10  # 1 s of loud audio unanswered: the backend owes a hypothesis
CAUGHT_UP_SECONDS = 1.0  # kept audio beyond the read-ahead: pause only while this much is owed

_AHEAD = AUDIO_AHEAD_SECONDS * TICKS_PER_SECOND
_CAUGHT_UP = CAUGHT_UP_SECONDS * TICKS_PER_SECOND


@dataclass
class AudioLedger:
    """What the backend was given and what it has answered, in 100-ns ticks."""

    may_move: bool = False  # keep the loud blocks after the last final (a move's watchdog)
    written: int = 0
    heard: int = 0  # the furthest end of any result (partial, final, silence)
    speech_end: int = 0  # the end of the last result with words in it
    kept_from: int = 0  # may_move: the end of the last final sent (a next backend's start)
    answered_any: bool = False  # the current backend gave any result (since its start)
    # (start, end) of its last result with words when that was a hypothesis: a final is owed
    open_hypothesis: tuple[int, int] | None = None
    voiced: collections.deque[int] = field(default_factory=collections.deque)
    kept_voiced: collections.deque[int] = field(default_factory=collections.deque)  # ≥ kept_from

    def owed(self) -> int:
        return max(0, self.written - self.heard)

    def kept(self) -> int:
        return max(0, self.written - self.kept_from)

    def owed_seconds(self) -> float:
        return self.owed() / TICKS_PER_SECOND

    # ---- changes ------------------------------------------------------------------------------
    def wrote(self, pcm: bytes) -> None:
        voiced = voiced_blocks(pcm, self.written)
        self.voiced.extend(voiced)
        if self.may_move:
            self.kept_voiced.extend(voiced)
        self.written += bytes_to_ticks(len(pcm))

    def answered(self, start: int, end: int, *, speech: bool, final: bool) -> None:
        """A result (or an acknowledged silence) from ``start`` to ``end``; ``speech``: it had
        words; ``final``: a final (of any kind), else a hypothesis."""
        self.heard = max(self.heard, end)
        self.answered_any = True
        if final:
            self.open_hypothesis = None
        elif speech:
            self.open_hypothesis = (start, end)
        if speech:
            self.speech_end = max(self.speech_end, end)
        voiced = self.voiced
        while voiced and voiced[0] < self.heard:
            voiced.popleft()

    def keep_from(self, tick: int) -> bool:
        """A final ending at ``tick`` was sent: a next backend starts there (True: it moved)."""
        if not self.may_move or tick <= self.kept_from:
            return False
        self.kept_from = tick
        kept_voiced = self.kept_voiced
        while kept_voiced and kept_voiced[0] < tick:
            kept_voiced.popleft()
        return True

    def restart(self, start: int) -> None:
        """A new backend hears the audio from ``start`` again."""
        self.heard = start
        self.answered_any = False
        self.open_hypothesis = None
        self.voiced = collections.deque(b for b in self.kept_voiced if b >= start)

    # ---- questions ----------------------------------------------------------------------------
    def skips_a_final(self, start: int) -> bool:
        """A hypothesis starting at ``start`` begins new speech while the last hypothesis has
        no final: the service ends each hypothesis with a phrase before it goes on to what
        follows, so that final was lost. (Hypotheses of one phrase share its start.)"""
        last = self.open_hypothesis
        return last is not None and start > last[0] and start >= last[1]

    def finals_missing(self) -> bool:
        """A backend that stopped now would have lost finals: its last words came as a
        hypothesis with no final after it (the service ends every hypothesis with a phrase,
        of some kind, before its turn ends), or it was given speech it owes an answer for
        (the watchdog's measure) and answered nothing at all (an SDK whose connection failed
        before any audio reached it stops without a cancellation, as if it were done)."""
        if self.open_hypothesis is not None:
            return True
        return not self.answered_any and len(self.voiced) >= SPEECH_BLOCKS_OWED

    def long_silence(self, timeout: float) -> bool:
        """``timeout`` seconds of audio answered since the last words."""
        return self.heard - self.speech_end >= timeout * TICKS_PER_SECOND

    def too_far_ahead(self) -> bool:
        """Reading must wait for the backend (the conduct's docstring: read-ahead)."""
        owed = self.owed()
        if owed >= _AHEAD:
            return True
        return self.may_move and self.kept() >= _AHEAD and owed >= _CAUGHT_UP

    def room_again(self) -> bool:
        """Reading paused for the backend may go on (half the read-ahead is free again)."""
        owed = self.owed()
        if owed >= _AHEAD / 2:
            return False
        return not self.may_move or self.kept() < _AHEAD / 2 or owed < _CAUGHT_UP

    def stall_deadline(
        self, quiet_since: float, backend_timeout: float, *, flushing: bool, paused: bool
    ) -> float | None:
        """When the backend counts as stalled if it stays quiet (None: it owes nothing yet).

        Speech must be answered within ``backend_timeout`` of wall time — once the backend
        has had ``backend_timeout`` seconds of audio after it, or the end of audio. Silence
        needs no answer of its own: a backend that owes only silence also gets real time to go
        through it (a burst's 100 s of trailing silence takes a real-time service 100 s), and
        a hang then loses no results. While streaming, silence is watched only once the
        read-ahead is full (``paused``).
        """
        budget = backend_timeout * TICKS_PER_SECOND
        voiced = self.voiced
        if len(voiced) >= SPEECH_BLOCKS_OWED and (flushing or self.written - voiced[0] >= budget):
            return quiet_since + backend_timeout
        if not flushing and not paused:
            return None
        return quiet_since + backend_timeout + self.owed_seconds()
