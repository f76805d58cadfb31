"""``serve --shadow-backend``: a sampled share of live sessions also runs on a second Speech
backend, in a second SDK session fed the same audio; the client sees only the primary.

The shadow never delays the primary. Its SDK session lives in a runtime of its own (its own
lifecycle threads and audio writers), so a shadow backend that hangs ties up only shadow
threads; its audio always goes through that runtime's writer threads, never written on the
loop; audio waits for it (before its SDK session has started, or queued for the SDK) only up
to :data:`MAX_BEHIND_BYTES`, and a shadow further behind is given up ("behind"). Its
failures are counted and reported, never passed on. When the primary's session has ended the
shadow has ``timeout`` seconds to deliver its last finals; the comparison is made in the
background (:mod:`shim.server.shadow_store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

from shim.audiotime import BYTES_PER_SECOND
from shim.legacy.watchdog import AUDIO_AHEAD_SECONDS
from shim.speech.bridge import Backend, SessionOptions, SpeechSession
from shim.speech.events import BridgeEvent, Canceled, Recognized, Stopped
from shim.speech.runtime import SpeechRuntime
from shim.wsframes import Control, DataChunk, Opcode

log = logging.getLogger("shim.shadow")

MAX_BEHIND_BYTES = round(AUDIO_AHEAD_SECONDS * BYTES_PER_SECOND)
"""Audio a shadow may owe its SDK session before it is given up: as much as the primary's
backend may be given ahead of its results (60 s of 16 kHz PCM, 1.9 MB), so a whole-file
client's upload, which arrives before the shadow's SDK session has started, still fits."""
MAX_FINALS = 2000
"""Finals kept per side of one shadowed session (a 90-minute session has a few hundred)."""


@dataclass(frozen=True)
class ShadowTarget:
    """Where shadows run, and how reports name it (never with a credential)."""

    backend: Backend
    label: str


@dataclass(frozen=True)
class Final:
    document: dict[str, object]  # a legacy final result
    at: float  # monotonic time it was sent (primary) or delivered (shadow)


class PrimarySide:
    """The primary's side, from the socket's tap: when the client's audio began, and each
    final the client was sent (at most :data:`MAX_FINALS`)."""

    def __init__(self) -> None:
        self.first_audio: float | None = None
        self.finals: list[Final] = []
        self.close_code: int | None = None

    def received(self, item: DataChunk | Control, at: float) -> None:
        if self.first_audio is None and isinstance(item, DataChunk):
            self.first_audio = at

    def sent(self, opcode: Opcode, fin: bool, payload: bytes, at: float) -> None:
        if opcode == Opcode.CLOSE and len(payload) >= 2:
            self.close_code = int.from_bytes(payload[:2], "big")
        if opcode != Opcode.TEXT or len(self.finals) >= MAX_FINALS or b'"final"' not in payload:
            return
        with contextlib.suppress(ValueError):
            document = json.loads(payload)
            if isinstance(document, dict) and document.get("type") == "final":
                self.finals.append(Final(document, at))


class ShadowSession:
    """The second SDK session of one shadowed live session."""

    def __init__(
        self,
        target: ShadowTarget,
        options: SessionOptions,
        runtime: SpeechRuntime,
        request_id: str,
    ) -> None:
        self.request_id = request_id
        self.finals: list[Final] = []
        self.problem: str | None = None  # why the shadow failed, if it did
        self.behind = False
        self._loop = asyncio.get_running_loop()
        self._speech = SpeechSession(
            target.backend,
            SessionOptions(options.source_locale, options.target_language, None, options.profanity),
            self._event,
            runtime=runtime,
            request_id=f"{request_id}-shadow",
            write_inline=False,
        )
        self._waiting: list[bytes] = []  # audio before the SDK session has started
        self._waiting_bytes = 0
        self._started = False
        self._audio_ended = False
        self._ended = asyncio.Event()
        self._start_task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.problem is None

    def start(self) -> None:
        self._start_task = self._loop.create_task(self._start())

    async def _start(self) -> None:
        try:
            await self._speech.start()
        except Exception as exc:
            self._fail(f"the shadow backend could not start ({type(exc).__name__})")
            return
        self._started = True
        waiting, self._waiting, self._waiting_bytes = self._waiting, [], 0
        for pcm in waiting:
            self._speech.write(pcm)
        if self._audio_ended:
            self._speech.end_audio()

    # ---- the primary's audio (on the loop; never blocks) -------------------------------------
    def write(self, pcm: bytes) -> None:
        if not self.active:
            return
        if not self._started:
            if self._waiting_bytes + len(pcm) > MAX_BEHIND_BYTES:
                self._fall_behind()
                return
            self._waiting.append(pcm)
            self._waiting_bytes += len(pcm)
        elif self._speech.queued_bytes + len(pcm) > MAX_BEHIND_BYTES:
            self._fall_behind()
        else:
            self._speech.write(pcm)

    def end_audio(self) -> None:
        self._audio_ended = True
        if self._started and self.active:
            self._speech.end_audio()

    def _fall_behind(self) -> None:
        self.behind = True
        seconds = MAX_BEHIND_BYTES // BYTES_PER_SECOND
        why = "had not started" if not self._started else "fell behind"
        self.problem = self.problem or (
            f"the shadow backend {why}: more than {seconds} s of audio waited for it"
        )
        self._waiting, self._waiting_bytes = [], 0
        self._ended.set()

    def _fail(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem
        self._ended.set()

    # ---- the shadow backend's events ----------------------------------------------------------
    def _event(self, event: BridgeEvent, at: float) -> None:
        if isinstance(event, Recognized):
            if event.matched and len(self.finals) < MAX_FINALS:
                document: dict[str, object] = {
                    "type": "final",
                    "id": str(len(self.finals)),
                    "recognition": event.text,
                    "translation": event.translation,
                }
                self.finals.append(Final(document, at))
        elif isinstance(event, Canceled):
            if event.reason == "Error":
                self._fail(f"the shadow backend failed: {event.code}")
            else:
                self._ended.set()
        elif isinstance(event, Stopped):
            self._ended.set()

    # ---- the end ---------------------------------------------------------------------------------
    async def finish(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for the shadow's last finals, then close it."""
        self.end_audio()
        ended = True
        if self.active:
            try:
                async with asyncio.timeout(timeout):
                    await self._ended.wait()
            except TimeoutError:
                ended = False
                self._fail(f"the shadow backend did not finish within {timeout:g} s")
        if self._start_task is not None and not self._start_task.done():
            # The SDK's start returns at once (it connects in the background); closing while
            # it runs would leave its recognizer behind, so it gets a bounded wait.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._start_task)
        await self._speech.close(abandon=not ended or not self.active)
