"""Shadow comparisons: each shadowed session's finals against the primary's, kept in a
bounded store, summarised in ``/metrics`` and shown as the set report of ``replay-set``.

Both sides become recordings of the harness's format (the primary's finals as the client got
them, the shadow's as legacy finals built from its SDK results, each placed at the time it
arrived after the first audio), compared by the harness's comparison: one code path for
``compare``, ``replay-set`` and the shadow. The shadow runs without TTS and without
TimingInfo, so only the texts, the finals' presence and their arrival times are compared.

Memory: the store keeps the last :data:`KEEP` comparisons (each at most
:data:`shim.server.shadow.MAX_FINALS` finals a side); shadow sessions that are still
finishing are at most ``max_open``. With ``--workers`` each worker keeps its own store
(``/shadow`` shows the worker that answers); ``/metrics`` adds all workers up.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import ipaddress
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from websockets.frames import Opcode as RecordedOpcode

from shim.harness.compare.comparison import DEFAULT_IGNORES, Comparison, compare
from shim.harness.compare.sets import SessionSummary, SetSummary
from shim.harness.compare.sides import read_side
from shim.harness.recordings.recording import FrameRecord, Recording, header_document
from shim.harness.reports.compare_report import html_report as compare_html
from shim.harness.reports.set_report import html_report, json_report
from shim.server import metrics
from shim.server.sampling import Sampler
from shim.server.shadow import Final, PrimarySide, ShadowSession, ShadowTarget
from shim.speech.bridge import SessionOptions
from shim.speech.runtime import SpeechRuntime

log = logging.getLogger("shim.shadow")

KEEP = 200
"""Comparisons kept for the HTML and JSON views (the oldest go first)."""

SHADOW_IGNORES = (
    *DEFAULT_IGNORES,
    "$.close",  # the shadow has no client connection to close
    "$.handshake",
    "$.utterances[*].tts",  # the shadow synthesizes nothing
    "$.utterances[*].final.audioTimeOffset",  # TimingInfo: the primary's only
    "$.utterances[*].final.audioTimeSize",
    "$.utterances[*].final.audioStreamPosition",
    "$.utterances[*].final.audioSizeBytes",
)


def _side(label: str, finals: Sequence[Final], first_audio: float, close: int | None) -> Recording:
    """A recording holding what a comparison needs: the first audio, then each final."""
    header = header_document(
        url=f"ws://{label}/speech/translate",
        request_headers=[],
        response={"status": 101, "reason": "Switching Protocols", "headers": [], "t": 0.0},
        keep_client_audio=False,
        keep_server_audio=False,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        context={"command": "serve --shadow-backend", "side": label},
    )
    frames = [FrameRecord(1, 0.0, "out", RecordedOpcode.BINARY, True, 0, sha256="0" * 64)]
    for final in finals:
        text = json.dumps(final.document, ensure_ascii=False, separators=(",", ":"))
        t = max(final.at - first_audio, 0.0)
        frames.append(
            FrameRecord(
                len(frames) + 1, t, "in", RecordedOpcode.TEXT, True, len(text.encode()), text=text
            )
        )
    end = frames[-1].t
    return Recording(
        header, frames, {"record": "close", "t": end, "code": close, "reason": "", "by": None}
    )


@dataclass
class ShadowResult:
    request_id: str
    started: str  # UTC, ISO 8601
    pair: str  # from → to
    comparison: Comparison
    problem: str | None  # why the shadow failed

    behind: bool = False

    @property
    def status(self) -> str:
        return "behind" if self.behind else "failed" if self.problem else "compared"

    def summary(self) -> SessionSummary:
        note = f"{self.pair}, started {self.started}"
        return SessionSummary(self.request_id, self.comparison, problem=self.problem, note=note)


def shadow_comparison(primary: PrimarySide, shadow: ShadowSession, label: str) -> Comparison:
    origin = primary.first_audio or 0.0
    return compare(
        read_side(
            "primary", "primary", _side("primary", primary.finals, origin, primary.close_code)
        ),
        read_side("shadow", label, _side("shadow", shadow.finals, origin, primary.close_code)),
        ignores=SHADOW_IGNORES,
    )


def _count(result: ShadowResult) -> None:
    summary = result.summary()
    metrics.SHADOW_SESSIONS.labels(result.status).inc()
    metrics.SHADOW_WER.labels("recognition").observe(summary.recognition_wer)
    metrics.SHADOW_WER.labels("translation").observe(summary.translation_wer)
    for delta in summary.latency_differences:
        metrics.SHADOW_LATENCY_DIFFERENCE.observe(delta)
    for disagreement in summary.disagreements:
        metrics.SHADOW_DISAGREEMENTS.labels(disagreement.kind).inc()


@dataclass
class ShadowPair:
    """One shadowed live session: the primary's side (a socket tap) and its shadow."""

    primary: PrimarySide
    shadow: ShadowSession
    started: str
    pair: str


class Shadows:
    """The server's shadowing: which sessions, their shadows' end, the comparisons kept."""

    def __init__(
        self,
        target: ShadowTarget,
        *,
        rate: float,
        timeout: float,
        max_open: int = 32,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.max_open = max_open
        self.runtime: SpeechRuntime | None = None  # its own: see shim.server.shadow
        self.results: collections.deque[ShadowResult] = collections.deque(maxlen=KEEP)
        self._sampler = Sampler(rate)
        self._open = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def begin(self, options: SessionOptions, request_id: str) -> ShadowPair | None:
        """A shadow for this session if it is in the sample (started; None if not)."""
        if self.runtime is None or not self._sampler.take():
            return None
        if self._open >= self.max_open:
            metrics.SHADOW_SESSIONS.labels("skipped").inc()
            return None
        self._open += 1
        shadow = ShadowSession(self.target, options, self.runtime, request_id)
        shadow.start()
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return ShadowPair(
            PrimarySide(), shadow, started, f"{options.source_locale} → {options.target_language}"
        )

    def end(self, pair: ShadowPair) -> None:
        """The primary session has ended: finish and compare in the background."""
        task = asyncio.get_running_loop().create_task(self._complete(pair))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _complete(self, pair: ShadowPair) -> None:
        shadow = pair.shadow
        try:
            await shadow.finish(self.timeout)
            result = ShadowResult(
                shadow.request_id,
                pair.started,
                pair.pair,
                shadow_comparison(pair.primary, shadow, self.target.label),
                shadow.problem,
                shadow.behind,
            )
            self.results.append(result)
            _count(result)
            log.info(
                "shadow %s: %s",
                result.status,
                shadow.problem or f"{len(result.summary().disagreements)} disagreements",
                extra={"request_id": shadow.request_id},
            )
        except Exception:
            log.exception("shadow of session %s: the comparison failed", shadow.request_id)
        finally:
            self._open -= 1

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- the views -------------------------------------------------------------------------------
    def summary(self) -> SetSummary:
        return SetSummary(
            "Shadow sessions",
            "the primary backend (what clients got)",
            f"the shadow backend {self.target.label}",
            [result.summary() for result in self.results],
        )

    def add_routes(self, app: web.Application) -> None:
        """The views show what clients said: they answer loopback clients only (an operator
        on the host, or through ``kubectl port-forward``), like a debug endpoint."""
        app.router.add_get("/shadow", self._html)
        app.router.add_get("/shadow.json", self._json)
        app.router.add_get("/shadow/{request_id}", self._one)

    async def _html(self, request: web.Request) -> web.Response:
        _loopback_only(request)
        page = html_report(self.summary(), link=lambda s: f"/shadow/{s.name}")
        return web.Response(text=page, content_type="text/html")

    async def _json(self, request: web.Request) -> web.Response:
        _loopback_only(request)
        return web.json_response(json_report(self.summary()))

    async def _one(self, request: web.Request) -> web.Response:
        _loopback_only(request)
        wanted = request.match_info["request_id"]
        for result in self.results:
            if result.request_id == wanted:
                return web.Response(text=compare_html(result.comparison), content_type="text/html")
        raise web.HTTPNotFound(text="no such shadowed session in this worker's store")


def _loopback_only(request: web.Request) -> None:
    try:
        loopback = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise web.HTTPForbidden(text="the shadow views answer loopback clients only")
