"""A conformance run: every client profile and the documented error cases, each recorded.

Like s3proxy running a third-party suite against itself, the cases are the behaviours real
legacy clients depend on (spec §2.3, §4), run against any endpoint. Each case writes a
session recording and is judged by the same rules as ``validate`` plus its own expectation
(the status or close code the legacy service documented), so a failing case can be
replayed, validated and compared later.
"""

from __future__ import annotations

import re
import ssl as ssl_module
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from websockets.exceptions import InvalidURI
from websockets.frames import Opcode

from shim.harness.checks.rule_base import Finding, RuleResult
from shim.harness.checks.rules import check_recording
from shim.harness.recordings.recorder import Recorder
from shim.harness.recordings.recording import RecordingWriter
from shim.harness.session import wavfile
from shim.harness.session.client import run_session
from shim.harness.session.frame_client import (
    ConnectionClosed,
    HandshakeError,
    HandshakeRefused,
    connect,
)
from shim.harness.session.profiles import NPM_CLOSE, PROFILES, Profile
from shim.harness.session.request import Credential, build_headers, build_url

CaseStatus = Literal["pass", "fail", "skip"]
PROFILE_FEATURES = "partial,texttospeech"


@dataclass(frozen=True)
class Settings:
    url: str
    credential: Credential | None
    audio: bytes
    from_: str = "en-US"
    to: str = "de"
    speed: float = 1.0
    ssl: ssl_module.SSLContext | None = None
    timeout: float = 10.0
    result_timeout: float = 30.0
    keep_client_audio: bool = True  # recordings of failing cases can be replayed


@dataclass
class CaseResult:
    name: str
    group: str
    description: str
    status: CaseStatus
    checks: list[RuleResult] = field(default_factory=list)
    duration: float = 0.0
    recording: Path | None = None
    note: str = ""
    reached: bool = True  # the endpoint answered the handshake

    @property
    def failures(self) -> list[RuleResult]:
        return [check for check in self.checks if check.status == "fail"]

    def summary(self) -> str:
        """The first failure as ``RULE: where: detail``, or the note."""
        for check in self.failures:
            finding = check.findings[0]
            return f"{check.rule}: {finding.where()}: {finding.detail}"
        return self.note


Runner = Callable[[Settings, Recorder], Awaitable[RuleResult]]


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    description: str
    url: Callable[[Settings], str]
    credential: bool
    runner: Runner


def _url(settings: Settings, **overrides: str | None) -> str:
    options: dict[str, str | None] = {
        "from_": settings.from_,
        "to": settings.to,
        "features": PROFILE_FEATURES,
        "api_version": "1.0",
    }
    options.update(overrides)
    return build_url(
        settings.url,
        from_=options["from_"] or "",
        to=options["to"] or "",
        features=options["features"] or "",
        format=options.get("format"),
        api_version=options["api_version"],
    )


def _expectation(
    rule: str, title: str, problems: Sequence[str], place: str = "handshake"
) -> RuleResult:
    return RuleResult(rule, title, "MUST", [Finding(None, p, place) for p in problems])


# -- profile sessions -------------------------------------------------------------------------


# The whole file in one message, then Close and the npm library's half-close: nothing the
# server owes can have been sent before the Close, so every final arrives after it.
HALF_CLOSE = replace(
    PROFILES["whole-file"],
    name="half-close",
    clients="Node clients on the websocket npm library (Close, then SHUT_WR, reading 5 s)",
    ending=NPM_CLOSE,
)


def _profile_runner(profile: str | Profile) -> Runner:
    chosen = PROFILES[profile] if isinstance(profile, str) else profile

    async def run(settings: Settings, recorder: Recorder) -> RuleResult:
        outcome = await run_session(
            recorder.url,
            recorder.headers,
            settings.audio,
            chosen,
            speed=settings.speed,
            observer=recorder,
            on_handshake=recorder.on_handshake,
            ssl=settings.ssl,
            timeout=settings.timeout,
            result_timeout=settings.result_timeout,
        )
        recorder.finish_session(outcome)
        return _expectation(
            "PR1",
            f"the session ends as the {chosen.name} client expects: {chosen.ending.expectation}",
            outcome.problems,
            "session",
        )

    return run


# -- raw sessions (error cases) ---------------------------------------------------------------


async def _raw_session(
    settings: Settings,
    recorder: Recorder,
    frames: Sequence[tuple[Opcode, bytes]],
    *,
    expect_status: int | None = None,
    close_first: bool = False,
) -> tuple[int | None, int | None]:
    """Send ``frames`` and wait for the server to close; (HTTP status, close code)."""
    try:
        connection = await connect(
            recorder.url,
            recorder.headers,
            ssl=settings.ssl,
            timeout=settings.timeout,
            observer=recorder,
            on_handshake=recorder.on_handshake,
        )
    except (OSError, TimeoutError, HandshakeError, InvalidURI) as exc:
        recorder.finish(code=None, error=f"could not connect: {exc or type(exc).__name__}")
        return None, None
    if isinstance(connection, HandshakeRefused):
        recorder.finish(code=None, error=f"HTTP {connection.status} {connection.reason}")
        return connection.status, None
    try:
        for opcode, payload in frames:
            await connection.send_frame(opcode, payload)
        if close_first:
            connection.send_close(1000)
    except ConnectionClosed:
        pass
    limit = settings.timeout if close_first else settings.result_timeout
    if not await connection.wait_closed(limit if expect_status is None else settings.timeout):
        connection.send_close(1000)
        await connection.wait_closed(settings.timeout)
    by = {True: "server", False: "client", None: None}[connection.server_closed_first]
    recorder.finish(
        code=connection.close_code,
        reason=connection.close_reason,
        by=by,
        sent_code=connection.close_sent_code,
    )
    return 101, connection.close_code


def _status_runner(status: int, parameter: str | None) -> Runner:
    async def run(settings: Settings, recorder: Recorder) -> RuleResult:
        got, _ = await _raw_session(settings, recorder, [], expect_status=status)
        problems = [] if got == status else [f"HTTP {got or 'no answer'}, expected {status}"]
        body = (recorder.recording.response or {}).get("body", "")
        if got == status and parameter and parameter.lower() not in body.lower():
            problems.append(f"the body does not name {parameter}: {body[:120]!r}")
        rule = "HS4" if status == 400 else "AU2"
        what = f"naming {parameter}" if parameter else "before the upgrade"
        return _expectation(rule, f"HTTP {status} {what}", problems)

    return run


def _close_runner(
    rule: str, title: str, frames: Callable[[Settings], list[tuple[Opcode, bytes]]], code: int
) -> Runner:
    async def run(settings: Settings, recorder: Recorder) -> RuleResult:
        status, got = await _raw_session(settings, recorder, frames(settings))
        if status != 101:
            return _expectation(rule, title, [f"no WebSocket (HTTP {status or 'no answer'})"])
        problems = [] if got == code else [f"closed with {got}, expected {code}"]
        return _expectation(rule, title, problems, "session")

    return run


async def _handshake_only(settings: Settings, recorder: Recorder) -> RuleResult:
    status, got = await _raw_session(settings, recorder, [], close_first=True)
    problems = [] if status == 101 else [f"HTTP {status or 'no answer'}, expected 101"]
    if status == 101 and got != 1000:
        problems.append(f"the client's Close(1000) was answered with {got}")
    return _expectation("HS1", "a valid request is upgraded (101) and closes cleanly", problems)


def _header_then_text(settings: Settings) -> list[tuple[Opcode, bytes]]:
    return [(Opcode.BINARY, wavfile.header()), (Opcode.TEXT, b'{"type":"updateFeatures"}')]


def _pcm_without_header(settings: Settings) -> list[tuple[Opcode, bytes]]:
    pcm = wavfile.pcm16_mono(settings.audio)[:32_000]
    return [(Opcode.BINARY, pcm.ljust(32_000, b"\x01"))]


def _profile_cases() -> list[Case]:
    """Each client profile, and the half-close client: the session and its ending."""
    cases = [
        Case(
            f"profile-{name}",
            "profiles",
            f"{profile.clients}: {profile.ending.expectation}",
            lambda s: _url(s),
            True,
            _profile_runner(name),
        )
        for name, profile in PROFILES.items()
    ]
    half_close = Case(
        "half-close",
        "profiles",
        f"{HALF_CLOSE.clients}: every final after the Close, then 1000",
        lambda s: _url(s),
        True,
        _profile_runner(HALF_CLOSE),
    )
    return [*cases, half_close]


def _feature_cases() -> list[Case]:
    """The query options whose effect a rule checks: TimingInfo (RS7), MP3 (TS4)."""
    return [
        Case(
            "timing-info",
            "features",
            "whole file with Partial, TextToSpeech and TimingInfo: timing fields consistent (RS7)",
            lambda s: _url(s, features="partial,texttospeech,timinginfo"),
            True,
            _profile_runner("whole-file"),
        ),
        Case(
            "mp3",
            "features",
            "format=audio/mp3: each TTS message is MP3 bytes (TS4)",
            lambda s: _url(s, format="audio/mp3"),
            True,
            _profile_runner("whole-file"),
        ),
    ]


def _handshake_cases() -> list[Case]:
    return [
        Case(
            "request-id",
            "handshake",
            "the 101 carries X-RequestId, no subprotocol or extension (HS1, HS2)",
            lambda s: _url(s),
            True,
            _handshake_only,
        )
    ]


# name, the parameter at fault, the URL's overrides, how the description shows it
_BAD_PARAMETERS: tuple[tuple[str, str, dict[str, str | None], str], ...] = (
    ("missing-api-version", "api-version", {"api_version": None}, "no api-version"),
    ("bad-api-version", "api-version", {"api_version": "2.0"}, "api-version=2.0"),
    ("bad-from", "from", {"from_": "xx-XX"}, "from=xx-XX"),
    ("bad-to", "to", {"to": "qq"}, "to=qq"),
    ("bad-format", "format", {"format": "audio/ogg"}, "format=audio/ogg"),
)


def _bad_parameter_cases() -> list[Case]:
    """Each bad query parameter: HTTP 400 naming it (HS4)."""
    return [
        Case(
            name,
            "errors",
            f"{what}: HTTP 400 with a JSON body naming {parameter} (HS4)",
            lambda s, o=overrides: _url(s, **o),  # type: ignore[misc]
            True,
            _status_runner(400, parameter),
        )
        for name, parameter, overrides, what in _BAD_PARAMETERS
    ]


def _refusal_and_bad_input_cases() -> list[Case]:
    """No credential (AU2), and the client's bad input after the upgrade (AI1, AI6)."""
    return [
        Case(
            "missing-key",
            "errors",
            "no key or token: HTTP 401 before the upgrade (AU2)",
            lambda s: _url(s),
            False,
            _status_runner(401, None),
        ),
        Case(
            "text-frame",
            "errors",
            "a text frame after the header: close 1003 (AI1)",
            lambda s: _url(s),
            True,
            _close_runner("AI1", "a text frame closes with 1003", _header_then_text, 1003),
        ),
        Case(
            "no-header",
            "errors",
            "PCM without a RIFF header: close 1003 (AI6)",
            lambda s: _url(s),
            True,
            _close_runner(
                "AI6", "audio without a header closes with 1003", _pcm_without_header, 1003
            ),
        ),
    ]


def _cases() -> list[Case]:
    """Every case, in the order reports list them."""
    return [
        *_profile_cases(),
        *_feature_cases(),
        *_handshake_cases(),
        *_bad_parameter_cases(),
        *_refusal_and_bad_input_cases(),
    ]


CASES: tuple[Case, ...] = tuple(_cases())
CASE_NAMES = tuple(case.name for case in CASES)


def select(only: Sequence[str]) -> list[Case]:
    """The cases named (or matching a glob-free prefix) in ``only``; all when empty."""
    unknown = [name for name in only if not any(c.name.startswith(name) for c in CASES)]
    if unknown:
        raise ValueError(f"unknown case(s): {', '.join(unknown)}; cases: {', '.join(CASE_NAMES)}")
    return [c for c in CASES if not only or any(c.name.startswith(name) for name in only)]


async def run_case(case: Case, settings: Settings, recordings: Path) -> CaseResult:
    path = recordings / f"{re.sub(r'[^A-Za-z0-9._-]', '_', case.name)}.jsonl"
    url = case.url(settings)
    headers = build_headers(credential=settings.credential if case.credential else None)
    recorder = Recorder(
        RecordingWriter(path),
        url=url,
        headers=headers,
        keep_client_audio=settings.keep_client_audio,
        context={"command": "conformance", "case": case.name},
    )
    started = time.monotonic()
    expectation = await case.runner(settings, recorder)
    checks = [expectation] + [r for r in check_recording(recorder.recording) if r.applicable]
    result = CaseResult(
        case.name,
        case.group,
        case.description,
        "pass",
        checks,
        time.monotonic() - started,
        path,
    )
    result.status = "fail" if result.failures else "pass"
    result.reached = recorder.recording.response is not None
    return result


async def run_conformance(
    settings: Settings,
    recordings: Path,
    *,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    on_case: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run the selected cases one after the other (a legacy endpoint may allow one session
    per key at a time: F0 keys did)."""
    results = []
    for case in select(only):
        if any(case.name.startswith(name) for name in skip):
            result = CaseResult(
                case.name, case.group, case.description, "skip", note="known divergence (--skip)"
            )
        else:
            result = await run_case(case, settings, recordings)
        results.append(result)
        if on_case is not None:
            on_case(result)
    return results
