"""Contract checks of every message a server sends, for end-to-end tests.

A :class:`ContractObserver` is a frame observer (``run_session(observer=…)``,
``wire.connect(observer=…)``) that checks each server frame as it arrives: results against
``legacy-result.schema.json`` as one compact unfragmented text frame (RS1, CT1), TTS as one
message in several frames holding a valid WAV or MP3 (TS2-TS4), Close codes the legacy
service documented or RFC 6455 sets for protocol breaches (ER3), the 101's ``X-RequestId``
and refused handshakes' bodies against ``handshake-error.schema.json`` (HS2, CT2). It
records the session too, so a test can run every protocol rule of ``validate`` on it
(:meth:`ContractObserver.rules`).

Message-level clients (aiohttp) call :meth:`ContractObserver.message` per message, and
recordings written by the CLI are checked with :func:`check_recording_file`. The
``contract`` fixture (tests/e2e/conftest.py) hands out observers and fails the test if any
of them saw a breach.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from websockets.frames import Opcode

from shim.harness.checks import audiocheck, schemas
from shim.harness.checks.rule_base import RuleResult
from shim.harness.checks.rules import check_recording
from shim.harness.checks.rules_closing import ACCEPTED_CLOSE_CODES
from shim.harness.recordings.recorder import Recorder
from shim.harness.recordings.recording import Recording, read_recording
from shim.harness.session.frame_client import Handshake

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


class ContractObserver:
    """Checks one session's server frames as they arrive; ``problems`` lists breaches."""

    def __init__(self, name: str = "session") -> None:
        self.name = name
        self.problems: list[str] = []
        self.tts_frames: list[int] = []  # frames per completed binary message
        self.results: list[dict[str, Any]] = []
        self._recorder = Recorder(None, url="ws://unknown/", keep_server_audio=True)
        self._binary: list[bytes] | None = None

    # -- observer protocol ---------------------------------------------------------------

    def __call__(self, direction: str, at: float, opcode: Any, fin: bool, payload: bytes) -> None:
        code = Opcode(int(opcode))
        self._recorder("in" if direction == "in" else "out", at, code, fin, bytes(payload))
        if direction == "in":
            self._server_frame(code, fin, bytes(payload))

    def on_handshake(self, handshake: Handshake) -> None:
        self._recorder.on_handshake(handshake)
        headers = {k.lower(): v for k, v in handshake.response_headers.raw_items()}
        if handshake.status == 101:
            if not headers.get("x-requestid"):
                self._problem("HS2: the 101 response has no X-RequestId")
        else:
            self.handshake_error(handshake.status, headers, handshake.body)

    @property
    def hooks(self) -> dict[str, Any]:
        """``run_session(…, **observer.hooks)``."""
        return {"observer": self, "on_handshake": self.on_handshake}

    # -- message-level and HTTP checks -----------------------------------------------------

    def message(self, opcode: Any, data: bytes | str, frames: int | None = None) -> None:
        """A whole message from a client that only sees messages; ``frames`` if known."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if int(opcode) == Opcode.TEXT:
            if frames not in (None, 1):
                self._problem(f"RS1: a result in {frames} frames")
            self._result(payload)
        elif int(opcode) == Opcode.BINARY:
            if frames is not None and frames < 2:
                self._problem("TS2: a TTS message in a single frame")
            self._tts(payload)

    def handshake_error(self, status: int, headers: Mapping[str, str], body: bytes | str) -> None:
        """A refused upgrade: a JSON body following handshake-error.schema.json (CT2)."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            document = json.loads(text)
        except ValueError:
            self._problem(f"CT2: HTTP {status} body is not JSON: {text[:80]!r}")
            return
        for problem in schemas.problems(schemas.HANDSHAKE_ERROR, document):
            self._problem(f"CT2: HTTP {status} body: {problem}")

    # -- the whole session -------------------------------------------------------------------

    @property
    def recording(self) -> Recording:
        return self._recorder.recording

    def rules(self, url: str | None = None) -> list[RuleResult]:
        """Every ``validate`` rule on the session so far; ``url`` when the observer did not
        see the handshake (its features decide which rules apply)."""
        recording = self.recording
        if url is not None:
            recording.header["request"] = {**recording.request, "url": url}
        return check_recording(recording)

    def failed_rules(self, url: str | None = None) -> list[str]:
        return [
            f"{r.rule}: {r.findings[0].where()}: {r.findings[0].detail}"
            for r in self.rules(url)
            if r.status == "fail" and r.rule != "RC1"
        ]

    # -- internals ------------------------------------------------------------------------

    def _problem(self, text: str) -> None:
        self.problems.append(f"{self.name}: {text}")

    def _server_frame(self, opcode: Opcode, fin: bool, payload: bytes) -> None:
        if opcode is Opcode.TEXT:
            if self._binary is not None:
                self._problem("TS2: a text frame inside a TTS message")
            if not fin:
                self._problem("RS1: a result was fragmented")
            self._result(payload)
        elif opcode is Opcode.BINARY:
            if self._binary is not None:
                self._problem("TS2: a binary message began inside another")
            self._binary = [payload]
            if fin:
                self._problem("TS2: a TTS message in a single frame")
                self._end_binary()
        elif opcode is Opcode.CONT:
            if self._binary is None:
                self._problem("a continuation frame outside a binary message")
                return
            self._binary.append(payload)
            if fin:
                self._end_binary()
        elif opcode is Opcode.CLOSE and len(payload) >= 2:
            code = int.from_bytes(payload[:2], "big")
            if code not in ACCEPTED_CLOSE_CODES:
                self._problem(f"ER3: close code {code} is not a legacy code (nor 1002/1009)")

    def _unkept_binary_frame(self, opcode: Opcode, fin: bool) -> None:
        """Framing of a TTS frame whose bytes a recording did not keep (TS2)."""
        if opcode is Opcode.BINARY:
            if self._binary is not None:
                self._problem("TS2: a binary message began inside another")
            self._binary = [] if not fin else None
            if fin:
                self._problem("TS2: a TTS message in a single frame")
        elif self._binary is None:
            self._problem("a continuation frame outside a binary message")
        elif fin:
            self.tts_frames.append(len(self._binary) + 2)
            self._binary = None
        else:
            self._binary.append(b"")

    def _end_binary(self) -> None:
        assert self._binary is not None
        self.tts_frames.append(len(self._binary))
        self._tts(b"".join(self._binary))
        self._binary = None

    def _result(self, payload: bytes) -> None:
        try:
            document = json.loads(payload)
        except ValueError:
            self._problem(f"RS1: a text message that is not JSON: {payload[:80]!r}")
            return
        for problem in schemas.problems(schemas.RESULT, document):
            self._problem(f"CT1: {problem} in {payload[:120]!r}")
        if re.search(rb"\s", _STRING.sub('""', payload.decode("utf-8", "replace")).encode()):
            self._problem(f"RS1: JSON is not compact: {payload[:80]!r}")
        if isinstance(document, dict):
            self.results.append(document)

    def _tts(self, data: bytes) -> None:
        if audiocheck.is_wav(data):
            for problem in audiocheck.wav_problems(data, len(data)):
                self._problem(f"TS3: {problem}")
        elif not audiocheck.is_mp3(data):
            self._problem(f"TS3/TS4: a TTS message that is neither WAV nor MP3: {data[:12]!r}")


def observe_recording(recording: Recording, name: str = "recording") -> ContractObserver:
    """Feed a recording's server frames through a fresh observer (frames whose bytes the
    recording did not keep are checked from their headers by the rules instead)."""
    observer = ContractObserver(name)
    for frame in recording.frames:
        if frame.direction != "in":
            continue
        payload = frame.payload
        if frame.opcode is Opcode.CLOSE:
            code = frame.code or 1005
            payload = code.to_bytes(2, "big") + (frame.reason or "").encode()
        elif payload is None:  # TTS bytes not kept: framing only; the rules check TS3
            observer._unkept_binary_frame(frame.opcode, frame.fin)
            continue
        observer._server_frame(frame.opcode, frame.fin, payload)
    return observer


def check_recording_file(path: Path) -> list[str]:
    """Every contract problem and failing MUST rule of a recording written by the CLI."""
    recording = read_recording(path)
    observer = observe_recording(recording, path.name)
    failures = [
        f"{path.name}: {r.rule}: {r.findings[0].where()}: {r.findings[0].detail}"
        for r in check_recording(recording)
        if r.status == "fail"
    ]
    return observer.problems + failures


class ContractSuite:
    """What the ``contract`` fixture yields: observers for a test's sessions."""

    def __init__(self) -> None:
        self.observers: list[ContractObserver] = []

    def observer(self, name: str | None = None) -> ContractObserver:
        observer = ContractObserver(name or f"session {len(self.observers) + 1}")
        self.observers.append(observer)
        return observer

    def recording_file(self, path: Path) -> None:
        """Check a CLI recording now; breaches fail the test at teardown too."""
        observer = ContractObserver(path.name)
        observer.problems.extend(check_recording_file(path))
        self.observers.append(observer)

    @property
    def problems(self) -> list[str]:
        return [problem for observer in self.observers for problem in observer.problems]
