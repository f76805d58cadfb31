"""Session recordings: one legacy WebSocket session as JSON Lines.

A line format because a recording is written while the session runs (an interrupted session
keeps everything before the interruption), is read back frame by frame by ``replay``,
``validate`` and ``compare``, and is diffed by people. Line 1 is the header (the handshake
request with secrets redacted, and the server's answer), then one line per frame in either
direction, then the close. ``contracts/session-recording.schema.json`` describes one line.

Payloads: text frames are stored as text; binary frames as size and SHA-256, plus the bytes
(base64) where they are kept (client audio by default, so replay can resend it) or else the
first :data:`HEAD_BYTES` bytes of a message, over as many frames as they span (enough to
check a WAV/MP3 header offline).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from websockets.frames import Opcode

from shim.harness.session.request import MASK, SECRET_HEADERS
from shim.redaction import redact_url

FORMAT = "translator-speech-shim/session-recording"
VERSION = 1
HEAD_BYTES = 64
REDACTED = "***"

Direction = Literal["out", "in"]

OPCODE_NAMES: dict[Opcode, str] = {
    Opcode.CONT: "continuation",
    Opcode.TEXT: "text",
    Opcode.BINARY: "binary",
    Opcode.CLOSE: "close",
    Opcode.PING: "ping",
    Opcode.PONG: "pong",
}
OPCODES_BY_NAME = {name: opcode for opcode, name in OPCODE_NAMES.items()}
DATA_OPCODES = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
_ALSO_SECRET = frozenset({"cookie", "set-cookie", "proxy-authorization"})


class RecordingError(ValueError):
    """A recording file that cannot be read (not JSON Lines, no header, bad field)."""


def redact_headers(items: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Header pairs with credential values replaced (AU4: keys and tokens never stored)."""
    secret = SECRET_HEADERS | _ALSO_SECRET
    return [[name, REDACTED if name.lower() in secret else value] for name, value in items]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise RecordingError(f"{where}: invalid base64") from exc


@dataclass(frozen=True)
class MessageSummary:
    """A whole data message, stated on the frame that completes it."""

    opcode: Opcode
    frames: int
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "opcode": OPCODE_NAMES[self.opcode],
            "frames": self.frames,
            "size": self.size,
            "sha256": self.sha256,
        }


class MessageTracker:
    """Which message the next continuation frame of one direction belongs to (and the
    summary the frame that completes a binary message carries)."""

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


@dataclass
class FrameRecord:
    """One frame as it crossed the wire; ``t`` is seconds since the handshake request."""

    n: int
    t: float
    direction: Direction
    opcode: Opcode
    fin: bool
    size: int
    sha256: str | None = None
    text: str | None = None
    data: bytes | None = field(default=None, repr=False)
    head: bytes | None = field(default=None, repr=False)
    code: int | None = None
    reason: str | None = None
    message: MessageSummary | None = None

    @property
    def is_data(self) -> bool:
        return self.opcode in DATA_OPCODES

    @property
    def payload(self) -> bytes | None:
        """The whole payload if the recording has it."""
        if self.data is not None:
            return self.data
        if self.text is not None:
            return self.text.encode("utf-8")
        return None

    @property
    def prefix(self) -> bytes:
        """As much of the start of the payload as is known."""
        payload = self.payload
        return payload if payload is not None else (self.head or b"")

    def describe(self) -> str:
        """``#12 in text 93 B @1.234s``: how tables point at a frame."""
        fin = "" if self.fin else " FIN=0"
        kind = OPCODE_NAMES[self.opcode]
        return f"#{self.n} {self.direction} {kind}{fin} {self.size} B @{self.t:.3f}s"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "record": "frame",
            "n": self.n,
            "t": round(self.t, 6),
            "dir": self.direction,
            "opcode": OPCODE_NAMES[self.opcode],
            "fin": self.fin,
            "size": self.size,
        }
        if self.opcode is Opcode.CLOSE:
            document["code"] = self.code
            document["reason"] = self.reason or ""
            return document
        if self.text is not None:
            document["text"] = self.text
            return document
        document["sha256"] = self.sha256
        if self.data is not None:
            document["data"] = _b64(self.data)
        elif self.head is not None:
            document["head"] = _b64(self.head)
        if self.message is not None:
            document["message"] = self.message.to_json()
        return document

    @classmethod
    def from_json(cls, document: dict[str, Any], where: str) -> FrameRecord:
        try:
            opcode = OPCODES_BY_NAME[document["opcode"]]
            record = cls(
                n=int(document["n"]),
                t=float(document["t"]),
                direction=document["dir"],
                opcode=opcode,
                fin=bool(document["fin"]),
                size=int(document["size"]),
                sha256=document.get("sha256"),
                text=document.get("text"),
                code=document.get("code"),
                reason=document.get("reason"),
            )
            if record.direction not in ("in", "out"):
                raise ValueError(f"dir {record.direction!r}")
            if "data" in document:
                record.data = _unb64(document["data"], where)
            if "head" in document:
                record.head = _unb64(document["head"], where)
            if "message" in document:
                summary = document["message"]
                record.message = MessageSummary(
                    OPCODES_BY_NAME[summary["opcode"]],
                    int(summary["frames"]),
                    int(summary["size"]),
                    str(summary["sha256"]),
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"{where}: not a frame record ({exc})") from exc
        return record


def frame_record(
    n: int,
    t: float,
    direction: Direction,
    opcode: Opcode,
    fin: bool,
    payload: bytes,
    *,
    keep: bool,
    head: int = 0,
) -> FrameRecord:
    """The record of a binary or control frame: the bytes when ``keep``, else the first
    ``head`` bytes (the part of a message's first HEAD_BYTES this frame carries)."""
    record = FrameRecord(n, t, direction, opcode, fin, len(payload))
    if opcode is Opcode.CLOSE:
        if len(payload) >= 2:
            record.code = int.from_bytes(payload[:2], "big")
            record.reason = payload[2:].decode("utf-8", "replace")
        return record
    record.sha256 = sha256(payload)
    if opcode in (Opcode.PING, Opcode.PONG) or keep:
        record.data = payload
    elif head > 0:
        record.head = payload[:head]
    return record


def text_frame_record(
    n: int, t: float, direction: Direction, opcode: Opcode, fin: bool, payload: bytes
) -> FrameRecord:
    """A frame of a text message: stored as text when it decodes on its own."""
    try:
        return FrameRecord(n, t, direction, opcode, fin, len(payload), text=payload.decode("utf-8"))
    except UnicodeDecodeError:
        return FrameRecord(
            n, t, direction, opcode, fin, len(payload), sha256(payload), data=payload
        )


def tracked_frame_record(
    n: int,
    t: float,
    direction: Direction,
    opcode: Opcode,
    fin: bool,
    payload: bytes,
    tracker: MessageTracker,
    *,
    keep: bool,
) -> FrameRecord:
    """The record of any frame of one direction, ``tracker`` following that direction's
    messages: text as text, binary bytes when ``keep`` (else their part of the message's
    head), the message summary on the frame that completes a binary message."""
    if opcode not in DATA_OPCODES:
        return frame_record(n, t, direction, opcode, fin, payload, keep=True)
    message, head = tracker.feed(opcode, payload)
    if message is Opcode.TEXT:
        record = text_frame_record(n, t, direction, opcode, fin, payload)
    else:
        record = frame_record(n, t, direction, opcode, fin, payload, keep=keep, head=head)
    if fin:
        summary = tracker.finish()
        if summary is not None and summary.opcode is Opcode.BINARY:
            record.message = summary
    return record


@dataclass
class Recording:
    """A whole recording: header, frames, close (None if the recording was cut short)."""

    header: dict[str, Any]
    frames: list[FrameRecord]
    close: dict[str, Any] | None

    @property
    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = self.header.get("request") or {}
        return request

    @property
    def response(self) -> dict[str, Any] | None:
        response: dict[str, Any] | None = self.header.get("response")
        return response

    @property
    def url(self) -> str:
        return str(self.request.get("url", ""))

    @property
    def status(self) -> int | None:
        return int(self.response["status"]) if self.response else None

    def response_header(self, name: str) -> str | None:
        """A response header's value (names compare case-insensitively)."""
        for key, value in (self.response or {}).get("headers", []):
            if str(key).lower() == name.lower():
                return str(value)
        return None

    def to_lines(self) -> Iterator[dict[str, Any]]:
        yield self.header
        for frame in self.frames:
            yield frame.to_json()
        if self.close is not None:
            yield self.close


def header_document(
    *,
    url: str,
    request_headers: Iterable[tuple[str, str]],
    response: dict[str, Any] | None,
    keep_client_audio: bool,
    keep_server_audio: bool,
    created: str,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Line 1. ``url`` and ``request_headers`` are redacted here, whatever the caller passes."""
    document: dict[str, Any] = {
        "record": "header",
        "format": FORMAT,
        "version": VERSION,
        "created": created,
        "audio_kept": {"client": keep_client_audio, "server": keep_server_audio},
        "request": {
            "method": "GET",
            "url": redact_url(url, mask=MASK),
            "headers": redact_headers(request_headers),
        },
        "response": response,
    }
    if context:
        document["context"] = context
    return document


class RecordingWriter:
    """Appends lines to a recording file as the session goes (flushed per line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("w", encoding="utf-8")

    def write(self, document: dict[str, Any]) -> None:
        self._file.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def write_recording(recording: Recording, path: Path) -> None:
    writer = RecordingWriter(path)
    try:
        for line in recording.to_lines():
            writer.write(line)
    finally:
        writer.close()


def read_lines(path: Path) -> list[tuple[int, Any]]:
    """``(line number, parsed JSON)`` for every non-empty line; RecordingError if not JSON."""
    lines: list[tuple[int, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{path}: not UTF-8 text") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            lines.append((number, json.loads(line)))
        except ValueError as exc:
            raise RecordingError(f"{path}:{number}: not JSON ({exc})") from exc
    return lines


def read_recording(path: Path) -> Recording:
    """Parse a recording; raises OSError or RecordingError."""
    lines = read_lines(path)
    if not lines or not isinstance(lines[0][1], dict) or lines[0][1].get("record") != "header":
        raise RecordingError(f"{path}: the first line is not a recording header")
    header = lines[0][1]
    if header.get("format") != FORMAT:
        raise RecordingError(f"{path}: not a {FORMAT} file")
    frames: list[FrameRecord] = []
    close: dict[str, Any] | None = None
    for number, document in lines[1:]:
        kind = document.get("record") if isinstance(document, dict) else None
        if kind == "frame":
            frames.append(FrameRecord.from_json(document, f"{path}:{number}"))
        elif kind == "close":
            close = document
        else:
            raise RecordingError(f"{path}:{number}: unknown record {kind!r}")
    return Recording(header, frames, close)
