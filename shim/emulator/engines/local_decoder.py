"""The local engine's Whisper decodes of all sessions, batched: finals first, partials share
what is left.

Each model decodes on ``lanes`` replicas (one CPU thread each by default), one batch per lane
at a time, in the engine's thread pool. When a lane is free it takes the oldest final and
the next waiting final with the same encoder window (``asr.window_frames``); partials of
that window fill the batch up to ``max_batch``. Finals of segments
that have ended come before speculative ones (decoded 300 ms into a pause, in case it ends
the segment), and a speculative final is moved up when its segment does end. Only when no
final waits does a lane run partials alone, and then no more than fit in ``partial_slice``
seconds (from the measured cost per job), so a final never waits long for a lane; and
partials alone keep at most ``PARTIAL_SHARE`` of the lanes busy (over the last few
seconds), so that finals, translation and synthesis find a core free. Finals go
at most ``MAX_FINAL_BATCH`` to a batch: their 20-30 s windows cost more per job in bigger
batches (memory), partials' 10-15 s ones less. Each stream has at most one partial
waiting, and a partial reads its audio when its batch is formed, not when it was asked for:
under load, partials come less often but are never stale.
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
MAX_FINAL_BATCH = 2
PARTIAL_SLICE_S = 0.25  # a lane's batch of partials alone is sized to take about this long
PARTIAL_SHARE = 0.5  # of all lanes' time, at most this on batches of partials alone...
SHARE_WINDOW_S = 3.0  # ...over this much of the recent past
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
    queued: float = field(default_factory=time.monotonic)
    speculative: bool = False


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
    final_waits: deque[float] = field(default_factory=lambda: deque(maxlen=1000))  # s queued

    def summary(self) -> str:
        waits = sorted(self.final_waits)

        def at(q: float) -> float:
            return waits[min(len(waits) - 1, int(q * len(waits)))] if waits else 0.0

        return (
            f"{self.batches} batches ({self.finals} finals, {self.partials} partials, largest"
            f" {self.largest_batch}), lanes busy {self.busy_seconds:.1f} s; a final waited for a"
            f" lane p50 {at(0.5):.3f} s, p90 {at(0.9):.3f} s, max {at(1.0):.3f} s"
        )


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
        # (start, end) of recent batches of partials alone, per model: at most a few per lane
        # and second within SHARE_WINDOW_S, older ones dropped.
        self._partial_runs: dict[WhisperAsr, deque[list[float]]] = {}
        self._retry: asyncio.TimerHandle | None = None
        self._seq = itertools.count()
        self.stats = DecoderStats()

    def cost(self, asr: WhisperAsr, frames: int) -> float | None:
        """Measured lane seconds per job of this window size (None until one ran)."""
        return self._cost.get((asr, frames))

    @property
    def waiting(self) -> int:
        return len(self._finals) + len(self._partials)

    @property
    def finals_waiting(self) -> bool:
        return any(not r.future.done() for r in self._finals)

    async def final(self, asr: WhisperAsr, job: DecodeJob, speculative: bool = False) -> Transcript:
        """A final's decode: always served, oldest first; speculative ones after the others."""
        request = self._enqueue(asr, True, lambda: job, job, speculative)
        result = await request.future
        assert result is not None
        return result

    async def partial(
        self, asr: WhisperAsr, source: Callable[[], DecodeJob | None]
    ) -> Transcript | None:
        """A partial's decode of whatever ``source`` gives when its batch forms; None when it
        gave nothing (the segment ended)."""
        return await self._enqueue(asr, False, source).future

    def hasten(self, job: DecodeJob) -> None:
        """The segment of a speculative final's ``job`` ended: it is a final like the others."""
        for request in self._finals:
            if request.job is job:
                request.speculative = False

    def _enqueue(
        self,
        asr: WhisperAsr,
        final: bool,
        source: Callable[[], DecodeJob | None],
        job: DecodeJob | None = None,
        speculative: bool = False,
    ) -> _Request:
        if self.waiting >= MAX_WAITING:
            raise DecoderBusy(f"{self.waiting} Whisper decodes waiting")
        future: asyncio.Future[Transcript | None] = asyncio.get_running_loop().create_future()
        request = _Request(asr, final, source, future, job, next(self._seq))
        request.speculative = speculative
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

    def _partials_may_run(self, asr: WhisperAsr) -> bool:
        """Whether partials alone have kept less than PARTIAL_SHARE of the lanes busy lately
        (a running batch counts as busy until now)."""
        now = time.monotonic()
        since = now - SHARE_WINDOW_S
        runs = self._partial_runs.setdefault(asr, deque())
        while runs and runs[0][1] < since:
            runs.popleft()
        busy = sum(min(end, now) - max(start, since) for start, end in runs)
        if busy < PARTIAL_SHARE * asr.lanes * SHARE_WINDOW_S:
            return True
        if self._retry is None:  # look again when some of that time has passed
            self._retry = asyncio.get_running_loop().call_later(0.1, self._retry_kick)
        return False

    def _retry_kick(self) -> None:
        self._retry = None
        self._kick()

    def _next_batch(self) -> list[_Request]:
        for queue in (self._finals, self._partials):
            while queue and queue[0].future.done():  # cancelled by its stream
                queue.popleft()
        ordered = sorted(self._finals, key=lambda r: (r.speculative, r.seq))
        head = next((r for r in ordered if self._free(r.asr)), None)
        if head is not None:
            assert head.job is not None
            frames = window_frames(head.job.seconds, head.job.quick)
            batch = [r for r in ordered if self._fits(r, head.asr, frames)]
            batch = batch[:MAX_FINAL_BATCH]
            for request in batch:
                self._finals.remove(request)
            self._fill(batch, head.asr, frames, self.max_batch - len(batch))
            return batch
        if self.finals_waiting:
            return []  # a final waits for a lane of its model: partials do not overtake it
        head_partial = next(
            (r for r in self._partials if self._free(r.asr) and self._partials_may_run(r.asr)),
            None,
        )
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
        self.stats.final_waits.extend(started - r.queued for r in batch if r.final)
        run = [started, float("inf")]
        if not any(r.final for r in batch):
            self._partial_runs.setdefault(asr, deque()).append(run)
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
            run[1] = time.monotonic()
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
