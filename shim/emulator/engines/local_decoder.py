"""The local engine's Whisper decodes of all sessions, batched: finals first, partials share
what is left.

Each model decodes on ``lanes`` replicas (one CPU thread each by default), one batch per lane
at a time, in the engine's thread pool. When a lane is free it takes the oldest final and
every other waiting final with the same encoder window (``asr.window_frames``), up to
``max_batch``; partials of that window fill the batch's free places. Only when no final
waits does a lane run partials alone, and then no more than fit in ``partial_slice`` seconds
(from the measured cost per job), so a final never waits long for a lane. Each stream has at
most one partial waiting, and a partial reads its audio when its batch is formed, not when
it was asked for: under load, partials come less often but are never stale.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from shim.emulator.engines.asr import DecodeJob, Transcript, WhisperAsr, window_frames

log = logging.getLogger("shim.emulator.local")

MAX_BATCH = 8  # jobs per CTranslate2 call
PARTIAL_SLICE_S = 0.25  # a lane's batch of partials alone is sized to take about this long
MAX_WAITING = 1024  # finals and partials queued engine-wide (256 sessions, a few each)


class DecoderBusy(RuntimeError):
    """More decodes are waiting than the bound allows."""


@dataclass(eq=False)
class _Request:
    asr: WhisperAsr
    final: bool
    source: Callable[[], DecodeJob | None]  # partials: the freshest audio, None if gone
    future: asyncio.Future[Transcript | None]
    job: DecodeJob | None = None
    seq: int = 0


@dataclass
class DecoderStats:
    batches: int = 0
    finals: int = 0
    partials: int = 0
    dropped_partials: int = 0
    busy_seconds: float = 0.0  # lane wall time spent decoding
    decoded_audio_seconds: float = 0.0
    largest_batch: int = 0
    by_size: dict[int, int] = field(default_factory=dict)


class BatchDecoder:
    """Queues decodes of every session and runs them in batches on the model's lanes."""

    def __init__(
        self,
        executor: Executor,
        *,
        max_batch: int = MAX_BATCH,
        partial_slice: float = PARTIAL_SLICE_S,
    ) -> None:
        self._executor = executor
        self.max_batch = max_batch
        self.partial_slice = partial_slice
        self._finals: deque[_Request] = deque()
        self._partials: deque[_Request] = deque()
        self._running: dict[WhisperAsr, int] = {}  # batches in flight per model
        self._cost: dict[tuple[WhisperAsr, int], float] = {}  # s per job, by window
        self._seq = itertools.count()
        self.stats = DecoderStats()

    @property
    def waiting(self) -> int:
        return len(self._finals) + len(self._partials)

    @property
    def finals_waiting(self) -> bool:
        return any(not r.future.done() for r in self._finals)

    async def final(self, asr: WhisperAsr, job: DecodeJob) -> Transcript:
        """A final's decode: always served, oldest first."""
        result = await self._enqueue(asr, True, lambda: job, job).future
        assert result is not None
        return result

    async def partial(
        self, asr: WhisperAsr, source: Callable[[], DecodeJob | None]
    ) -> Transcript | None:
        """A partial's decode of whatever ``source`` gives when its batch forms; None when it
        gave nothing (the segment ended)."""
        return await self._enqueue(asr, False, source).future

    def _enqueue(
        self,
        asr: WhisperAsr,
        final: bool,
        source: Callable[[], DecodeJob | None],
        job: DecodeJob | None = None,
    ) -> _Request:
        if self.waiting >= MAX_WAITING:
            raise DecoderBusy(f"{self.waiting} Whisper decodes waiting")
        future: asyncio.Future[Transcript | None] = asyncio.get_running_loop().create_future()
        request = _Request(asr, final, source, future, job, next(self._seq))
        (self._finals if final else self._partials).append(request)
        self._kick()
        return request

    # ---- scheduling ----------------------------------------------------------------------
    def _kick(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            asr = batch[0].asr
            self._running[asr] = self._running.get(asr, 0) + 1
            task = asyncio.ensure_future(self._run(asr, batch))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _free(self, asr: WhisperAsr) -> bool:
        return self._running.get(asr, 0) < asr.lanes

    def _next_batch(self) -> list[_Request]:
        for queue in (self._finals, self._partials):
            while queue and queue[0].future.done():  # cancelled by its stream
                queue.popleft()
        head = next((r for r in self._finals if self._free(r.asr)), None)
        if head is not None:
            assert head.job is not None
            frames = window_frames(head.job.seconds, head.job.quick)
            batch = [r for r in self._finals if self._fits(r, head.asr, frames)]
            batch = batch[: self.max_batch]
            for request in batch:
                self._finals.remove(request)
            self._fill(batch, head.asr, frames, self.max_batch - len(batch))
            return batch
        if self.finals_waiting:
            return []  # a final waits for a lane of its model: partials do not overtake it
        head_partial = next((r for r in self._partials if self._free(r.asr)), None)
        if head_partial is None:
            return []
        asr = head_partial.asr
        job = self._snapshot(head_partial)
        if job is None:
            return self._next_batch()
        frames = window_frames(job.seconds, job.quick)
        cost = self._cost.get((asr, frames))
        room = self.max_batch if cost is None else max(1, int(self.partial_slice / cost))
        batch = [head_partial]
        self._fill(batch, asr, frames, min(room, self.max_batch) - 1)
        return batch

    @staticmethod
    def _fits(request: _Request, asr: WhisperAsr, frames: int) -> bool:
        job = request.job
        return (
            request.asr is asr
            and job is not None
            and not request.future.done()
            and window_frames(job.seconds, job.quick) == frames
        )

    def _snapshot(self, request: _Request) -> DecodeJob | None:
        """The partial's job now; a partial with nothing to decode is answered None."""
        self._partials.remove(request)
        job = request.source() if not request.future.done() else None
        if job is None:
            self.stats.dropped_partials += 1
            if not request.future.done():
                request.future.set_result(None)
            return None
        request.job = job
        return job

    def _fill(self, batch: list[_Request], asr: WhisperAsr, frames: int, room: int) -> None:
        """Partials of the same model and window join the batch, oldest first."""
        for request in list(self._partials):
            if room <= 0:
                return
            if request.asr is not asr or request.future.done():
                continue
            job = request.source()
            if job is None:
                self._partials.remove(request)
                self.stats.dropped_partials += 1
                request.future.set_result(None)
            elif window_frames(job.seconds, job.quick) == frames:
                self._partials.remove(request)
                request.job = job
                batch.append(request)
                room -= 1

    async def _run(self, asr: WhisperAsr, batch: list[_Request]) -> None:
        jobs = [r.job for r in batch if r.job is not None]
        started = time.monotonic()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, asr.decode_batch, jobs
            )
        except Exception as exc:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            raise
        else:
            self._account(asr, batch, jobs, time.monotonic() - started)
            for request, result in zip(batch, results, strict=True):
                if not request.future.done():
                    request.future.set_result(result)
        finally:
            self._running[asr] -= 1
            for request in batch:  # cancelled while decoding: nothing to hand over
                if not request.future.done():
                    request.future.cancel()
            self._kick()

    def _account(
        self, asr: WhisperAsr, batch: list[_Request], jobs: list[DecodeJob], elapsed: float
    ) -> None:
        frames = window_frames(jobs[0].seconds, jobs[0].quick)
        previous = self._cost.get((asr, frames))
        per_job = elapsed / len(jobs)
        self._cost[(asr, frames)] = per_job if previous is None else 0.7 * previous + 0.3 * per_job
        stats = self.stats
        stats.batches += 1
        stats.finals += sum(r.final for r in batch)
        stats.partials += sum(not r.final for r in batch)
        stats.busy_seconds += elapsed
        stats.decoded_audio_seconds += sum(job.seconds for job in jobs)
        stats.largest_batch = max(stats.largest_batch, len(batch))
        stats.by_size[len(batch)] = stats.by_size.get(len(batch), 0) + 1
        log.debug(
            "batch of %d (%d finals), %d s window: %.2f s",
            len(batch),
            sum(r.final for r in batch),
            frames // 100,
            elapsed,
        )
