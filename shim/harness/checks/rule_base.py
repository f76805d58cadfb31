"""What every rule family shares: a session as the rules read it, a rule, a finding, a result.

A rule family (``rules_handshake``, ``rules_client``, ``rules_results``, ``rules_tts``,
``rules_closing``) is a module of checks and its ``RULES`` rows; ``rules`` runs them all.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.frames import Opcode

from shim.harness.recordings.messages import (
    FramingError,
    RecordedMessage,
    Result,
    assemble,
    parse_result,
)
from shim.harness.recordings.recording import FrameRecord, Recording

Status = Literal["pass", "fail", "warn", "n/a"]
Level = Literal["MUST", "SHOULD"]


@dataclass(frozen=True)
class Finding:
    """One breach: the frame that broke the rule (None: the handshake) and what was wrong."""

    frame: FrameRecord | None
    detail: str
    place: str = "handshake"  # what ``where`` names when there is no frame

    def where(self) -> str:
        return self.frame.describe() if self.frame is not None else self.place


@dataclass
class RuleResult:
    rule: str
    title: str
    level: Level
    findings: list[Finding] = field(default_factory=list)
    applicable: bool = True
    note: str = ""

    @property
    def status(self) -> Status:
        if not self.applicable:
            return "n/a"
        if not self.findings:
            return "pass"
        return "fail" if self.level == "MUST" else "warn"


class NotApplicable(Exception):
    """Raised by a rule check that does not apply to this session; the message says why."""


@dataclass
class Session:
    """A recording read the way the rules need it."""

    recording: Recording
    lines: Sequence[tuple[int, Any]] | None
    params: dict[str, str]
    features: frozenset[str]
    server: list[RecordedMessage]
    server_framing: list[FramingError]
    client: list[RecordedMessage]
    results: list[Result]

    @property
    def upgraded(self) -> bool:
        return self.recording.status == 101

    @property
    def tts_requested(self) -> bool:
        return "texttospeech" in self.features

    def close_frame(self, direction: str) -> FrameRecord | None:
        for frame in self.recording.frames:
            if frame.direction == direction and frame.opcode is Opcode.CLOSE:
                return frame
        return None

    def server_close_code(self) -> int:
        frame = self.close_frame("in")
        if frame is None:
            return 1006
        return frame.code if frame.code is not None else 1005


def read_session(recording: Recording, lines: Sequence[tuple[int, Any]] | None = None) -> Session:
    query = urllib.parse.urlsplit(recording.url).query
    params = {k.lower(): v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    features = frozenset(
        item.strip().lower() for item in params.get("features", "").split(",") if item.strip()
    )
    server, framing = assemble(recording.frames, "in")
    client, _ = assemble(recording.frames, "out")
    results = [parse_result(m) for m in server if m.opcode is Opcode.TEXT]
    return Session(recording, lines, params, features, server, framing, client, results)


Check = Callable[[Session], list[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    level: Level
    check: Check
