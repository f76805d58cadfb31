"""One session's speech backend across moves: the Speech SDK session on its current
resource, and the audio kept so that another resource can take the session over.

The session core decides that a session may move and from where
(:class:`shim.legacy.conduct.BackendLost`: the end of the last final it sent), the seat
(:mod:`shim.server.placement`) where to; this class carries it out: the failed SDK session
is abandoned (its events are no longer the session's), a new one starts on the next
resource and is given the audio the session wrote from that point on, and the end of audio
if it had ended. A resource the server knows as a local Speech service (``host``, the
embedded one) is told where that audio starts (``audioOriginTicks``,
:mod:`shim.emulator.resume`) so that its scripts stay in the session's time; Azure needs
nothing: offsets count from the stream's start and the session core shifts them. A final
whose speech was still arriving is spoken again on the new resource (:meth:`resynthesize`).

Memory: for a session in the pool, the PCM written since the end of the last final sent
(:class:`AudioReplay`: the session core pauses reading when it reaches its read-ahead, 60 s,
1.9 MB; at most :data:`REPLAY_LIMIT_BYTES`, 120 s, 3.8 MB, for a phrase longer than that).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from shim.audiotime import BYTES_PER_SECOND
from shim.legacy.errors import Failure
from shim.legacy.watchdog import AUDIO_AHEAD_SECONDS
from shim.pool.replay import AudioReplay
from shim.server.placement import Seat
from shim.speech.bridge import SessionOptions, SpeechSession
from shim.speech.events import BridgeEvent, Recognized, Recognizing, SynthesisAudio
from shim.speech.runtime import SpeechRuntime
from shim.speech.synthesis import Spoken, speak

log = logging.getLogger("shim.session")

# The read-ahead stops reading a client once AUDIO_AHEAD_SECONDS are kept; a piece of audio
# already received may come on top of it, and a phrase longer than that goes on to here.
REPLAY_LIMIT_BYTES = int(2 * AUDIO_AHEAD_SECONDS * BYTES_PER_SECOND)


def _dropped(event: BridgeEvent, at: float) -> None:
    """Where events of a closed session go: nowhere."""


def _unheard(spoken: Spoken) -> None:
    """Where a closed session's re-spoken final goes: nowhere."""


class SessionBackend:
    def __init__(
        self,
        seat: Seat,
        options: SessionOptions,
        sink: Callable[[BridgeEvent, float], None],
        *,
        runtime: SpeechRuntime,
        request_id: str,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.seat = seat
        self._options = options
        self._sink = sink
        self._on_spoken: Callable[[Spoken], None] = _unheard
        self._runtime = runtime
        self._request_id = request_id
        self._on_connected = on_connected
        self._replay = AudioReplay(REPLAY_LIMIT_BYTES) if seat.pooled else None
        self._start = 0  # ticks of the session's audio where the current backend's begins
        self._answered = False  # a backend of the session produced a result
        self._audio_ended = False
        self._live = False  # the current SDK session started: audio goes to it directly
        self._abandoned: set[asyncio.Task[None]] = set()
        self._speaking: set[asyncio.Task[None]] = set()
        self._generation = 0  # of the current SDK session: older ones are abandoned
        self._speech = self._new_speech()

    def _new_speech(self) -> SpeechSession:
        self._generation += 1
        generation = self._generation

        def deliver(event: BridgeEvent, at: float) -> None:
            if generation != self._generation:
                return  # an abandoned backend: its events are not the session's
            self.seat.observe(event)
            if isinstance(event, (Recognizing, Recognized, SynthesisAudio)):
                self._answered = True
            self._sink(event, at)

        return SpeechSession(
            self.seat.backend,
            self._options,
            deliver,
            runtime=self._runtime,
            request_id=self._request_id,
            on_connected=self._on_connected,
        )

    async def start(self) -> bool:
        """Start the current SDK session and give it the audio kept from its start on
        (False: it would not start, or that audio is gone; the session core hears
        :class:`BackendStartFailed`). A session that moved on while this one was starting
        says True whatever became of it: the newer one reports its own start, and a failure
        of the abandoned one must not count against it."""
        speech = self._speech
        try:
            await speech.start()
        except Exception:
            if speech is not self._speech:
                return True
            log.exception("session %s: the speech backend could not start", self._request_id)
            return False
        if speech is not self._speech:
            return True  # moved on while starting; the newer one starts on its own
        if self._replay is not None:
            kept = self._replay.audio_from(self._start)
            if kept is None:
                return False
            speech.write(kept)
        if self._audio_ended:
            speech.end_audio()
        self._live = True
        return True

    def write(self, pcm: bytes) -> None:
        if self._replay is not None:
            self._replay.append(pcm)
        if self._live:
            self._speech.write(pcm)

    def end_audio(self) -> None:
        self._audio_ended = True
        if self._live:
            self._speech.end_audio()

    def keep_from(self, tick: int) -> None:
        """A final ending at ``tick`` was sent: the audio before it is no longer needed."""
        if self._replay is not None:
            self._replay.keep_from(tick)

    def move(self, failure: Failure, code: str | None, resume_at: int) -> int | None:
        """Abandon the current SDK session and make one on the next resource, not started,
        for the audio from ``resume_at`` on; the tick where it starts (None: nowhere to move,
        or that audio is not kept)."""
        replay = self._replay
        start = replay.start_for(resume_at) if replay is not None else None
        if start is None:
            if replay is not None:
                log.info(
                    "session %s: cannot move: the audio after its last final is no longer kept",
                    self._request_id,
                )
            return None  # the seat hears the failure when the session ends
        if self.seat.move(failure, code, origin=start, mid_session=self._answered) is None:
            return None
        old, self._live = self._speech, False
        task = asyncio.create_task(old.close(abandon=True))
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)
        self._start = start
        self._speech = self._new_speech()
        return start

    def resynthesize(
        self,
        final_id: str,
        text: str,
        voice: str,
        timeout: float,
        on_spoken: Callable[[Spoken], None],
    ) -> None:
        """Speak final ``final_id``'s ``text`` on the current resource; ``on_spoken`` gets the
        outcome unless the session moved on or ended meanwhile."""
        self._on_spoken = on_spoken
        generation, resource = self._generation, self.seat.resource

        async def run() -> None:
            try:
                spoken = await speak(self.seat.backend, voice, text, self._runtime, timeout)
            except Exception:
                log.exception("session %s: speaking a final again failed", self._request_id)
                spoken = Spoken(None, "RuntimeError")
            if generation != self._generation:
                return
            log.info(
                "session %s: final %s's speech spoken again on Speech resource %s%s",
                self._request_id,
                final_id,
                resource,
                "" if spoken.audio is not None else f": failed ({spoken.code})",
            )
            self._on_spoken(spoken)

        task = asyncio.create_task(run())
        self._speaking.add(task)
        task.add_done_callback(self._speaking.discard)

    async def close(self, *, abandon: bool) -> None:
        self._on_spoken = _unheard  # a synthesis still running is nobody's any more
        await self._speech.close(abandon=abandon)
        if self._abandoned:
            await asyncio.gather(*self._abandoned, return_exceptions=True)
        # An abandoned teardown goes on in the SDK's pool, holding its SDK session, which
        # holds this object (and this object it): nothing of the session may hang on to it.
        self._sink = _dropped
