"""A recording's frames read back as the messages and results they carried.

Rules and comparisons talk about messages ("the TTS after final 1"), recordings store
frames; this is the one place that reassembles them, keeping every message's frames so a
broken rule can point at the exact frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from websockets.frames import Opcode

from shim.harness.recordings.recording import FrameRecord, Recording


@dataclass
class RecordedMessage:
    """One data message; ``complete`` is False for a message whose FIN never came."""

    direction: str
    opcode: Opcode
    frames: list[FrameRecord] = field(default_factory=list)
    complete: bool = False

    @property
    def first(self) -> FrameRecord:
        return self.frames[0]

    @property
    def last(self) -> FrameRecord:
        return self.frames[-1]

    @property
    def t(self) -> float:
        """When the message was complete (its last frame)."""
        return self.last.t

    @property
    def size(self) -> int:
        return sum(frame.size for frame in self.frames)

    @property
    def data(self) -> bytes | None:
        """The whole payload if every frame of it was kept."""
        parts = [frame.payload for frame in self.frames]
        if any(part is None for part in parts):
            return None
        return b"".join(part for part in parts if part is not None)

    @property
    def head(self) -> bytes:
        """The first bytes of the message as far as the recording has them (frame heads
        joined while each covers its whole frame)."""
        data = self.data
        if data is not None:
            return data
        known = b""
        for frame in self.frames:
            part = frame.prefix
            known += part
            if len(part) < frame.size:
                break
        return known

    @property
    def text(self) -> str | None:
        data = self.data
        if self.opcode is not Opcode.TEXT or data is None:
            return None
        return data.decode("utf-8", "replace")

    @property
    def sha256(self) -> str | None:
        summary = self.last.message
        return summary.sha256 if summary is not None else None


@dataclass
class FramingError:
    frame: FrameRecord
    detail: str


def assemble(
    frames: Iterable[FrameRecord], direction: str
) -> tuple[list[RecordedMessage], list[FramingError]]:
    """The data messages of one direction, and RFC 6455 fragmentation errors found."""
    messages: list[RecordedMessage] = []
    errors: list[FramingError] = []
    current: RecordedMessage | None = None
    for frame in frames:
        if frame.direction != direction or not frame.is_data:
            continue
        if frame.opcode is Opcode.CONT:
            if current is None:
                errors.append(FramingError(frame, "a continuation frame outside a message"))
                continue
        else:
            if current is not None:
                errors.append(
                    FramingError(frame, "a new data message began inside a fragmented one")
                )
            current = RecordedMessage(direction, frame.opcode)
            messages.append(current)
        current.frames.append(frame)
        if frame.fin:
            current.complete = True
            current = None
    return messages, errors


@dataclass
class Result:
    """A server text message read as a legacy result."""

    message: RecordedMessage
    document: dict[str, Any] | None
    raw: str

    @property
    def type(self) -> str:
        return str((self.document or {}).get("type", ""))

    @property
    def id(self) -> str:
        return str((self.document or {}).get("id", ""))

    @property
    def recognition(self) -> str:
        return str((self.document or {}).get("recognition", ""))

    @property
    def translation(self) -> str:
        return str((self.document or {}).get("translation", ""))

    def field(self, name: str) -> Any:
        return (self.document or {}).get(name)


def parse_result(message: RecordedMessage) -> Result:
    raw = message.text or ""
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    return Result(message, document if isinstance(document, dict) else None, raw)


@dataclass
class Utterance:
    """A final with the partials before it and the TTS message after it."""

    final: Result
    partials: list[Result]
    tts: RecordedMessage | None


def server_messages(recording: Recording) -> list[RecordedMessage]:
    return assemble(recording.frames, "in")[0]


def utterances(recording: Recording) -> list[Utterance]:
    """The server's finals in order, each with its partials and (if any) TTS message."""
    found: list[Utterance] = []
    partials: list[Result] = []
    for message in server_messages(recording):
        if message.opcode is Opcode.TEXT:
            result = parse_result(message)
            if result.type == "final":
                found.append(Utterance(result, partials, None))
                partials = []
            elif result.type == "partial":
                partials.append(result)
        elif found and found[-1].tts is None:
            found[-1].tts = message
    return found
