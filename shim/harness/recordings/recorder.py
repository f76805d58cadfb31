"""Turn the wire callbacks of one session into a recording, line by line as it happens.

The recorder is the ``on_handshake`` and frame ``observer`` of
:func:`shim.harness.session.frame_client.connect` (and so of
:func:`shim.harness.session.client.run_session`): it sees exactly what crossed the wire, FIN
bits and unfinished messages included, which a message-level client cannot show. It keeps
the recording in memory too, so a caller can check it without reading the file back.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from websockets.frames import Opcode

from shim.harness.recordings.recording import (
    Direction,
    FrameRecord,
    MessageTracker,
    Recording,
    RecordingWriter,
    header_document,
    tracked_frame_record,
)
from shim.harness.session.client import SessionOutcome
from shim.harness.session.frame_client import Handshake, HeaderItems


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
        self._trackers: dict[Direction, MessageTracker] = {
            "out": MessageTracker(),
            "in": MessageTracker(),
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
        record = tracked_frame_record(
            n, t, direction, opcode, fin, payload,
            self._trackers[direction], keep=self._keep[direction],
        )  # fmt: skip
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
