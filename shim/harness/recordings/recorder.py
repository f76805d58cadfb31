"""Turn the wire callbacks of one session into a recording, line by line as it happens.

The recorder is the ``on_handshake`` and frame ``observer`` of
:func:`shim.harness.session.wire.connect` (and so of
:func:`shim.harness.session.client.run_session`): it sees exactly what crossed the wire, FIN
bits and unfinished messages included, which a message-level client cannot show. It keeps
the recording in memory too, so a caller can check it without reading the file back.
"""

from __future__ import annotations

import datetime
import hashlib
import time
from typing import Any

from websockets.frames import Opcode

from shim.harness.recordings.recording import (
    DATA_OPCODES,
    HEAD_BYTES,
    Direction,
    FrameRecord,
    MessageSummary,
    Recording,
    RecordingWriter,
    frame_record,
    header_document,
    text_frame_record,
)
from shim.harness.session.client import SessionOutcome
from shim.harness.session.wire import Handshake, HeaderItems


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _MessageTracker:
    """Which message the next continuation frame of one direction belongs to."""

    def __init__(self) -> None:
        self.opcode: Opcode | None = None
        self.frames = 0
        self.size = 0
        self._hash = hashlib.sha256()

    @property
    def head_missing(self) -> int:
        """How many bytes of the message's first HEAD_BYTES the next frame may carry."""
        return max(HEAD_BYTES - self.size, 0)

    def feed(self, opcode: Opcode, payload: bytes) -> tuple[Opcode | None, int]:
        """(opcode of the message this frame is part of, head bytes it carries)."""
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            self.opcode, self.frames, self.size = opcode, 0, 0
            self._hash = hashlib.sha256()
        head = self.head_missing
        self.frames += 1
        self.size += len(payload)
        self._hash.update(payload)
        return self.opcode, head

    def finish(self) -> MessageSummary | None:
        summary = (
            MessageSummary(self.opcode, self.frames, self.size, self._hash.hexdigest())
            if self.opcode is not None
            else None
        )
        self.opcode = None
        return summary


class Recorder:
    """Records one session. ``keep_client_audio`` stores the client's binary bytes (replay
    needs them); ``keep_server_audio`` stores TTS bytes too (otherwise size, SHA-256 and the
    header bytes only). ``writer`` None keeps the recording in memory only."""

    def __init__(
        self,
        writer: RecordingWriter | None,
        *,
        url: str,
        headers: HeaderItems = (),
        keep_client_audio: bool = True,
        keep_server_audio: bool = False,
        context: dict[str, Any] | None = None,
    ) -> None:
        self._writer = writer
        self._url = url
        self._headers = list(headers.items() if hasattr(headers, "items") else headers)
        self._keep = {"out": keep_client_audio, "in": keep_server_audio}
        self._context = context
        self._origin = time.monotonic()
        self._trackers: dict[Direction, _MessageTracker] = {
            "out": _MessageTracker(),
            "in": _MessageTracker(),
        }
        self.header: dict[str, Any] | None = None
        self.frames: list[FrameRecord] = []
        self.close: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        """The URL to connect to, credentials included (stored redacted)."""
        return self._url

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The request headers to send, credentials included (stored redacted)."""
        return list(self._headers)

    @property
    def recording(self) -> Recording:
        return Recording(self.header or self._header(None), list(self.frames), self.close)

    # -- wire callbacks ------------------------------------------------------------------

    def on_handshake(self, handshake: Handshake) -> None:
        self._origin = handshake.sent_at
        self._url = handshake.url
        self._headers = list(handshake.request_headers.raw_items())
        response = {
            "status": handshake.status,
            "reason": handshake.reason,
            "headers": [[k, v] for k, v in handshake.response_headers.raw_items()],
            "t": round(handshake.answered_at - self._origin, 6),
        }
        if handshake.body:
            response["body"] = handshake.body.decode("utf-8", "replace")
        self._write_header(response)

    def __call__(
        self, direction: Direction, at: float, opcode: Opcode, fin: bool, payload: bytes
    ) -> None:
        if self.header is None:
            self._write_header(None)
        n, t = len(self.frames) + 1, at - self._origin
        tracker = self._trackers[direction]
        if opcode in DATA_OPCODES:
            message, head = tracker.feed(opcode, payload)
            if message is Opcode.TEXT:
                record = text_frame_record(n, t, direction, opcode, fin, payload)
            else:
                record = frame_record(
                    n, t, direction, opcode, fin, payload,
                    keep=self._keep[direction], head=head,
                )  # fmt: skip
            if fin:
                summary = tracker.finish()
                if summary is not None and summary.opcode is Opcode.BINARY:
                    record.message = summary
        else:
            record = frame_record(n, t, direction, opcode, fin, payload, keep=True)
        self.frames.append(record)
        if self._writer is not None:
            self._writer.write(record.to_json())

    # -- the end ---------------------------------------------------------------------------

    def finish(
        self,
        *,
        code: int | None,
        reason: str | None = None,
        by: str | None = None,
        sent_code: int | None = None,
        error: str | None = None,
        outcome: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> Recording:
        """Write the close line (``at``: when, on the ``time.monotonic()`` clock of the wire
        callbacks; default now); returns the whole recording."""
        if self.header is None:
            self._write_header(None)
        self.close = {
            "record": "close",
            "t": round((time.monotonic() if at is None else at) - self._origin, 6),
            "code": code,
            "reason": reason or "",
            "by": by,
            "sent_code": sent_code,
        }
        if error:
            self.close["error"] = error
        if outcome is not None:
            self.close["outcome"] = outcome
        if self._writer is not None:
            self._writer.write(self.close)
            self._writer.close()
        return self.recording

    def finish_session(self, outcome: SessionOutcome) -> Recording:
        """Write the close line of a :func:`run_session` session."""
        by = {True: "server", False: "client", None: None}[outcome.server_closed_first]
        refused_or_failed = outcome.close_code is None
        return self.finish(
            code=outcome.close_code,
            reason=outcome.close_reason,
            by=by,
            sent_code=self._sent_close_code(),
            error=outcome.problems[0] if refused_or_failed and outcome.problems else None,
            outcome={
                "profile": outcome.profile,
                "ended_as_expected": outcome.ended_as_expected,
                "problems": list(outcome.problems),
                "finals": len(outcome.finals),
                "partials": len(outcome.partials),
                "tts": len(outcome.tts),
                "frames_sent": outcome.frames_sent,
                "bytes_sent": outcome.bytes_sent,
                "streamed_all": outcome.streamed_all,
            },
        )

    # -- internals -------------------------------------------------------------------------

    def _sent_close_code(self) -> int | None:
        for frame in self.frames:
            if frame.direction == "out" and frame.opcode is Opcode.CLOSE:
                return frame.code
        return None

    def _header(self, response: dict[str, Any] | None) -> dict[str, Any]:
        return header_document(
            url=self._url,
            request_headers=self._headers,
            response=response,
            keep_client_audio=self._keep["out"],
            keep_server_audio=self._keep["in"],
            created=_now_iso(),
            context=self._context,
        )

    def _write_header(self, response: dict[str, Any] | None) -> None:
        self.header = self._header(response)
        if self._writer is not None:
            self._writer.write(self.header)
