"""One session's speech backend across moves: the Speech SDK session on its current
resource, and the audio kept so that another resource can take the session over.

The session core decides that a session may move (:class:`shim.legacy.conduct.BackendLost`:
its backend failed before producing anything), the seat (:mod:`shim.server.placement`)
where to; this class carries it out: the failed SDK session is abandoned (its events are
no longer the session's), a new one starts on the next resource and is given every byte of
audio the session wrote so far, and the end of audio if it had ended.

Memory: until the backend's first result, the PCM written so far (:class:`AudioReplay`,
bounded by the session core's read-ahead and at most :data:`REPLAY_LIMIT_BYTES`); nothing
after it. Only a session in the pool keeps any.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from shim.audiotime import BYTES_PER_SECOND
from shim.legacy.conduct import AUDIO_AHEAD_SECONDS
from shim.legacy.errors import Failure
from shim.pool.replay import AudioReplay
from shim.server.placement import Seat
from shim.speech.bridge import SessionOptions, SpeechSession
from shim.speech.events import BridgeEvent, Recognized, Recognizing, SynthesisAudio
from shim.speech.runtime import SpeechRuntime

log = logging.getLogger("shim.session")

# The read-ahead stops reading a client beyond AUDIO_AHEAD_SECONDS unanswered; a piece of
# audio already received may come on top of it.
REPLAY_LIMIT_BYTES = int(2 * AUDIO_AHEAD_SECONDS * BYTES_PER_SECOND)


def _dropped(event: BridgeEvent, at: float) -> None:
    """Where events of a closed session go: nowhere."""


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
        self._runtime = runtime
        self._request_id = request_id
        self._on_connected = on_connected
        self._replay = AudioReplay(REPLAY_LIMIT_BYTES) if seat.pooled else None
        self._audio_ended = False
        self._live = False  # the current SDK session started: audio goes to it directly
        self._abandoned: set[asyncio.Task[None]] = set()
        self._generation = 0  # of the current SDK session: older ones are abandoned
        self._speech = self._new_speech()

    def _new_speech(self) -> SpeechSession:
        self._generation += 1
        generation = self._generation

        def deliver(event: BridgeEvent, at: float) -> None:
            if generation != self._generation:
                return  # an abandoned backend: its events are not the session's
            self.seat.observe(event)
            if self._replay is not None and isinstance(
                event, (Recognizing, Recognized, SynthesisAudio)
            ):
                self._replay.drop()  # the backend answered: the session will not move now
                self._replay = None
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
        """Start the current SDK session and give it the audio kept so far (False: it would
        not start; the session core hears :class:`BackendStartFailed`)."""
        speech = self._speech
        try:
            await speech.start()
        except Exception:
            log.exception("session %s: the speech backend could not start", self._request_id)
            return False
        if speech is not self._speech:
            return True  # moved on while starting; the newer one starts on its own
        kept = self._replay.audio() if self._replay is not None else None
        if kept:
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

    def move(self, failure: Failure, code: str | None) -> bool:
        """Abandon the current SDK session and make one on the next resource, not started
        (False: nowhere to move, or the kept audio is gone)."""
        # Without the audio there is nothing to move; the seat hears the failure at the end.
        if self._replay is None or self._replay.lost or self.seat.move(failure, code) is None:
            return False
        old, self._live = self._speech, False
        task = asyncio.create_task(old.close(abandon=True))
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)
        self._speech = self._new_speech()
        return True

    async def close(self, *, abandon: bool) -> None:
        await self._speech.close(abandon=abandon)
        if self._abandoned:
            await asyncio.gather(*self._abandoned, return_exceptions=True)
        # An abandoned teardown goes on in the SDK's pool, holding its SDK session, which
        # holds this object (and this object it): nothing of the session may hang on to it.
        self._sink = _dropped
