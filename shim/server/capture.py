"""``serve --capture-dir``: sampled live sessions written as session recordings.

A capture is the recording ``record`` would have made on the client's side, made from what
the server saw: the upgrade request (credentials ``***``), the 101 answer, every client frame
as it arrived (opcode, FIN, bytes: the client's own fragmentation, its pacing as the times
the frames were complete), every frame the server sent, and the close. It is written with the
harness's recording format (:mod:`shim.harness.recordings.recording`), so ``validate``,
``replay``, ``compare`` and ``replay-set`` read it like any recording. Client audio is kept
(replay resends it); TTS audio only as size, SHA-256 and its first bytes.

Capture never slows or fails a session. On the loop a session only joins the pieces of a
client frame (at most :data:`MAX_FRAME_BYTES` each) and queues whole frames; one writer thread
per process builds the lines and writes them. The queue holds at most :data:`QUEUE_BYTES`;
a frame that does not fit drops that session's capture (its partial file is deleted), and so
does a full directory (:mod:`shim.server.capture_store`). Each drop is counted in
``/metrics`` (``capture_dropped_total`` by reason).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from websockets.frames import Opcode as RecordedOpcode

from shim.auth.keys import CaptureChoice
from shim.harness.recordings.recording import (
    Direction,
    MessageTracker,
    header_document,
    tracked_frame_record,
)
from shim.redaction import SECRET_NAMES
from shim.server import metrics
from shim.server.capture_store import RESCAN_BYTES, CaptureStore
from shim.server.sampling import Sampler
from shim.wsframes import Control, DataChunk, Opcode

log = logging.getLogger("shim.capture")

QUEUE_BYTES = 8 << 20
"""Frames waiting for the writer thread, all sessions together."""
MAX_FRAME_BYTES = 4 << 20
"""A client frame larger than this (two minutes of 16 kHz audio) is not captured: its
session's capture is dropped rather than its pieces held."""
_IDLE_SCAN_SECONDS = 60.0  # the writer enforces the retention age at least this often


def _drop(reason: str) -> None:
    metrics.CAPTURE_DROPPED.labels(reason).inc()


@dataclass
class _Item:
    capture: str
    kind: str  # "header", "frame", "close", "discard"
    document: dict[str, Any] | None = None
    frame: tuple[Direction, float, Opcode, bool, bytes] | None = None
    size: int = 0
    origin: float = 0.0  # header: the session's clock origin (monotonic seconds)


@dataclass
class _Open:
    """The writer thread's state of one capture being written."""

    fd: int
    origin: float
    frames: int = 0
    trackers: dict[Direction, MessageTracker] = field(
        default_factory=lambda: {"out": MessageTracker(), "in": MessageTracker()}
    )
    closes: dict[Direction, tuple[int | None, str]] = field(default_factory=dict)
    first_close: Direction | None = None
    last_t: float = 0.0


class CaptureWriter:
    """The process's capture queue and writer thread (started by :meth:`start`)."""

    def __init__(self, store: CaptureStore, *, queue_bytes: int = QUEUE_BYTES) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._queued = 0
        self._limit = queue_bytes
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._open: dict[str, _Open] = {}
        self._since_scan = 0
        # Look at the directory again after this many bytes (a small bound is checked often).
        self._rescan = min(RESCAN_BYTES, max(store.max_bytes // 16, 4096))

    def start(self) -> None:
        self.store.prepare()
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread; unfinished captures stay partial."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    # ---- the loop's side ---------------------------------------------------------------------
    def put(self, item: _Item) -> bool:
        """Queue ``item`` if its bytes fit; a discard always fits (it frees a capture)."""
        with self._lock:
            if item.kind != "discard" and self._queued + item.size > self._limit:
                return False
            self._queued += item.size
        self._queue.put(item)
        return True

    # ---- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=_IDLE_SCAN_SECONDS)
            except queue.Empty:
                try:
                    self._make_room(0)  # the retention age, while no session is captured
                except OSError:
                    log.exception("capture directory: eviction failed")
                continue
            if item is None:
                return
            with self._lock:
                self._queued -= item.size
            try:
                self._write(item)
            except Exception:
                log.exception("capture %s: writing failed; the capture is dropped", item.capture)
                self._abandon(item.capture, "error")

    def _write(self, item: _Item) -> None:
        name = item.capture
        if item.kind == "header":
            assert item.document is not None
            if not self._make_room(self._rescan):
                _drop("size_bound")
                return
            self._open[name] = _Open(self.store.create(name), item.origin)
            self._line(name, item.document)
            return
        capture = self._open.get(name)
        if capture is None:
            return  # dropped earlier
        if item.kind == "discard":
            self._abandon(name, None)
        elif item.kind == "frame":
            assert item.frame is not None
            self._frame(name, capture, *item.frame)
        elif item.kind == "close":
            self._line(name, self._close_line(capture, item.document or {}))
            if self._open.pop(name, None) is not None:  # not dropped while writing the line
                os.close(capture.fd)
                self.store.complete(name)
                metrics.CAPTURE_SESSIONS.inc()

    def _frame(
        self, name: str, capture: _Open, direction: Direction, at: float, opcode: Opcode,
        fin: bool, payload: bytes,
    ) -> None:  # fmt: skip
        capture.frames += 1
        t = max(at - capture.origin, 0.0)
        capture.last_t = t
        record = tracked_frame_record(
            capture.frames, t, direction, RecordedOpcode(int(opcode)), fin, payload,
            capture.trackers[direction], keep=direction == "out",
        )  # fmt: skip
        if opcode == Opcode.CLOSE:
            capture.closes.setdefault(direction, (record.code, record.reason or ""))
            capture.first_close = capture.first_close or direction
        self._line(name, record.to_json())

    def _close_line(self, capture: _Open, context: dict[str, Any]) -> dict[str, Any]:
        """The close as ``record`` writes it, from the Close frames seen."""
        server = capture.closes.get("in")
        client = capture.closes.get("out")
        by = {"out": "client", "in": "server", None: None}[capture.first_close]
        return {
            "record": "close",
            "t": round(max(float(context.get("at", 0.0)) - capture.origin, capture.last_t), 6),
            "code": server[0] if server else 1006,
            "reason": server[1] if server else "",
            "by": by,
            "sent_code": client[0] if client else None,
        }

    def _line(self, name: str, document: dict[str, Any]) -> None:
        data = (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        self._since_scan += len(data)
        if self._since_scan >= self._rescan and not self._make_room(len(data)):
            self._abandon(name, "size_bound")
            return
        capture = self._open[name]
        view = memoryview(data)
        while view:
            view = view[os.write(capture.fd, view) :]
        metrics.CAPTURE_BYTES.inc(len(data))

    def _make_room(self, needed: int) -> bool:
        self._since_scan = 0
        fits, evicted = self.store.make_room(needed)
        if evicted.aged:
            metrics.CAPTURE_EVICTED.labels("age").inc(evicted.aged)
        if evicted.for_size:
            metrics.CAPTURE_EVICTED.labels("size").inc(evicted.for_size)
        return fits

    def _abandon(self, name: str, reason: str | None) -> None:
        if reason is not None:
            _drop(reason)
        capture = self._open.pop(name, None)
        if capture is None:
            return
        with contextlib.suppress(OSError):
            os.close(capture.fd)
        self.store.discard(name)


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _masked(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header pairs with every credential-bearing value ``***`` (the recording format masks
    the legacy ones itself; this adds the server's wider list)."""
    return [(k, "***" if k.lower() in SECRET_NAMES else v) for k, v in headers]


class SessionCapture:
    """One session's capture, on the loop: joins client frames, queues them for the writer.

    Memory: the pieces of one client frame, at most :data:`MAX_FRAME_BYTES`.
    """

    def __init__(
        self,
        writer: CaptureWriter,
        request_id: str,
        *,
        url: str,
        request_headers: Iterable[tuple[str, str]],
        origin: float,
        context: dict[str, Any],
    ) -> None:
        self._writer = writer
        started = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.name = f"{started}-{request_id}"
        self._url = url
        self._request_headers = _masked(request_headers)
        self._origin = origin
        self._context = context
        self._pieces: list[bytes] = []
        self._piece_bytes = 0
        self._frame_opcode: Opcode | None = None
        self._dropped = False
        self._started = False

    @property
    def active(self) -> bool:
        return not self._dropped

    def accepted(self, status: int, headers: Iterable[tuple[str, str]], at: float) -> None:
        """The 101 is sent: the header line."""
        document = header_document(
            url=self._url,
            request_headers=self._request_headers,
            response={
                "status": status,
                "reason": "Switching Protocols",
                "headers": [[k, v] for k, v in headers],
                "t": round(max(at - self._origin, 0.0), 6),
            },
            keep_client_audio=True,
            keep_server_audio=False,
            created=_now_iso(),
            context=self._context,
        )
        header = _Item(self.name, "header", document, size=1024, origin=self._origin)
        self._started = self._queue(header)
        if not self._started:
            self.drop("queue_full")

    # ---- frames (the socket's tap) -------------------------------------------------------------
    def received(self, item: DataChunk | Control, at: float) -> None:
        if self._dropped:
            return
        if isinstance(item, Control):
            self._frame("out", at, item.opcode, True, item.payload)
            return
        if self._frame_opcode is None:
            self._frame_opcode = item.opcode if item.message_start else Opcode.CONTINUATION
        self._pieces.append(item.data)
        self._piece_bytes += len(item.data)
        if self._piece_bytes > MAX_FRAME_BYTES:
            self.drop("frame_too_large")
            return
        if item.frame_end:
            payload = b"".join(self._pieces)
            opcode = self._frame_opcode
            self._pieces, self._piece_bytes, self._frame_opcode = [], 0, None
            self._frame("out", at, opcode, item.message_end, payload)

    def sent(self, opcode: Opcode, fin: bool, payload: bytes, at: float) -> None:
        if not self._dropped:
            self._frame("in", at, opcode, fin, payload)

    def _frame(
        self, direction: Direction, at: float, opcode: Opcode, fin: bool, data: bytes
    ) -> None:
        item = _Item(self.name, "frame", frame=(direction, at, opcode, fin, data), size=len(data))
        if not self._queue(item):
            self.drop("queue_full")

    # ---- the end -------------------------------------------------------------------------------
    def finish(self, at: float) -> None:
        close = _Item(self.name, "close", {"at": at}, size=256)
        if not self._dropped and self._started and not self._queue(close):
            self.drop("queue_full")  # a discard always fits: no file stays open
        self._dropped = True

    def drop(self, reason: str) -> None:
        if self._dropped:
            return
        self._dropped = True
        self._pieces = []
        _drop(reason)
        if self._started:
            self._writer.put(_Item(self.name, "discard"))

    def _queue(self, item: _Item) -> bool:
        return self._writer.put(item)


class Captures:
    """The server's capturing: which sessions (:class:`~shim.server.sampling.Sampler` and the
    key's own choice), and the writer they go to."""

    def __init__(self, writer: CaptureWriter, rate: float) -> None:
        self.writer = writer
        self._sampler = Sampler(rate)

    def begin(
        self,
        choice: CaptureChoice,
        request_id: str,
        *,
        url: str,
        request_headers: Iterable[tuple[str, str]],
        origin: float,
    ) -> SessionCapture | None:
        if not self._sampler.decide(choice):
            return None
        context = {"command": "serve --capture-dir", "request_id": request_id}
        return SessionCapture(
            self.writer,
            request_id,
            url=url,
            request_headers=request_headers,
            origin=origin,
            context=context,
        )
