"""Re-send the client side of a recording, frame by frame, to another endpoint.

A replay is a client profile made from a recording: the same frames (opcode, FIN, bytes),
the recorded pauses between them divided by the speed, the same query and headers with the
credentials the user gives now. The close is placed where the recorded client put it
relative to the server's output (after as many finals and TTS messages as it had seen),
not at the recorded second, so a faster replay or a slower server still closes at the same
point of the conversation.
"""

from __future__ import annotations

import ssl as ssl_module
import sys
import urllib.parse
from dataclasses import dataclass

from websockets.frames import Frame, Opcode

from shim.harness.recordings.messages import assemble, parse_result, utterances
from shim.harness.recordings.recorder import Recorder
from shim.harness.recordings.recording import Recording
from shim.harness.session.client import SessionOutcome, run_session
from shim.harness.session.frame_client import websocket_url
from shim.harness.session.profiles import Ending, Finish, Profile, Step
from shim.harness.session.request import SECRET_HEADERS, SECRET_PARAMETERS, Credential, Form

_HANDSHAKE_HEADERS = frozenset(
    {"host", "upgrade", "connection", "user-agent", "sec-websocket-key", "sec-websocket-version",
     "sec-websocket-extensions", "sec-websocket-protocol"}
)  # fmt: skip


class ReplayError(ValueError):
    """The recording cannot be replayed (no client bytes, no request)."""


@dataclass(frozen=True)
class ReplayPlan:
    url: str
    headers: list[tuple[str, str]]
    profile: Profile
    expect_results: bool
    recorded_finals: list[str]


def client_steps(recording: Recording) -> list[Step]:
    """The client's data frames with the recorded pauses; needs their bytes."""
    frames = [f for f in recording.frames if f.direction == "out" and f.is_data]
    missing = [f for f in frames if f.payload is None]
    if missing:
        raise ReplayError(
            f"frame #{missing[0].n}: the recording has no client audio bytes"
            " (it was made with --no-client-audio)"
        )
    previous = float((recording.response or {}).get("t", 0.0))
    steps = []
    for frame in frames:
        payload = frame.payload or b""
        steps.append(Step(max(frame.t - previous, 0.0), Frame(frame.opcode, payload, frame.fin)))
        previous = frame.t
    return steps


def recorded_credential_form(recording: Recording) -> tuple[str, Form] | None:
    """("key" | "token", "header" | "query") as the recorded client sent its credential."""
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(recording.url).query, True)
    for name, _ in query:
        if name.lower() == "subscription-key":
            return "key", "query"
        if name.lower() == "access_token":
            return "token", "query"
    for name, _ in recording.request.get("headers", []):
        if name.lower() == "ocp-apim-subscription-key":
            return "key", "header"
        if name.lower() == "authorization":
            return "token", "header"
    return None


def replay_url(recorded_url: str, base_url: str, credential: Credential | None, form: Form) -> str:
    """The recorded path and query on ``base_url``'s host, with ``credential`` instead of the
    redacted one. A ``base_url`` with its own path replaces the recorded path."""
    recorded = urllib.parse.urlsplit(recorded_url)
    base = urllib.parse.urlsplit(websocket_url(base_url))
    path = base.path if base.path not in ("", "/") else recorded.path
    query = [
        (name, value)
        for name, value in urllib.parse.parse_qsl(recorded.query, keep_blank_values=True)
        if name.lower() not in SECRET_PARAMETERS
    ]
    if credential is not None and form == "query":
        query.append(credential.query())
    encoded = urllib.parse.urlencode(query, safe="/,", quote_via=urllib.parse.quote)
    return urllib.parse.urlunsplit(base._replace(path=path, query=encoded))


def replay_headers(
    recording: Recording, credential: Credential | None, form: Form
) -> list[tuple[str, str]]:
    """The recorded client's own headers (trace ids…), without handshake headers the
    WebSocket library sets and without the redacted secrets; plus ``credential``."""
    headers = [
        (str(name), str(value))
        for name, value in recording.request.get("headers", [])
        if name.lower() not in _HANDSHAKE_HEADERS and name.lower() not in SECRET_HEADERS
    ]
    if credential is not None and form == "header":
        headers.insert(0, credential.header())
    return headers


def recorded_ending(recording: Recording) -> Ending:
    """How the recorded client ended: its Close after N finals + TTS, or waiting for the
    server's Close; the server's recorded close code is the one expected."""
    close = recording.close or {}
    expected = close.get("code") or 1000
    client_close = next(
        (f for f in recording.frames if f.opcode is Opcode.CLOSE and f.direction == "out"), None
    )
    server_close = next(
        (f for f in recording.frames if f.opcode is Opcode.CLOSE and f.direction == "in"), None
    )
    if client_close is None or (server_close is not None and server_close.n < client_close.n):
        return Ending(
            Finish.AFTER_RESULTS,
            expected_close_codes=frozenset({expected}),
            expectation="the server closes, as it did in the recording",
            results_before_close=sys.maxsize,
        )
    messages, _ = assemble(recording.frames, "in")
    seen = 0
    for message in messages:
        if message.last.n > client_close.n:
            break
        if message.opcode is Opcode.BINARY or parse_result(message).type == "final":
            seen += 1
    return Ending(
        Finish.AFTER_RESULTS,
        close_code=client_close.code or 1000,
        close_reason=client_close.reason or "",
        expected_close_codes=frozenset({expected}),
        expectation=f"the client closes after {seen} finals and TTS messages, as recorded",
        results_before_close=seen,
    )


def plan_replay(
    recording: Recording, base_url: str, credential: Credential | None, name: str = "replay"
) -> ReplayPlan:
    if not recording.url:
        raise ReplayError("the recording has no request URL")
    recorded_form = recorded_credential_form(recording)
    form: Form = recorded_form[1] if recorded_form else "header"
    steps = client_steps(recording)
    finals = [u.final.recognition for u in utterances(recording)]
    profile = Profile(
        name, "a recorded client", recorded_ending(recording), lambda _wav: iter(steps)
    )
    return ReplayPlan(
        replay_url(recording.url, base_url, credential, form),
        replay_headers(recording, credential, form),
        profile,
        expect_results=bool(finals),
        recorded_finals=finals,
    )


async def replay_and_record(
    plan: ReplayPlan,
    recorder: Recorder,
    *,
    speed: float,
    ssl: ssl_module.SSLContext | None,
    timeout: float,
    result_timeout: float,
) -> tuple[SessionOutcome, Recording]:
    """Replay ``plan`` and record it: the session's outcome and the new recording."""
    outcome = await run_session(
        plan.url,
        plan.headers,
        b"",
        plan.profile,
        speed=speed,
        observer=recorder,
        on_handshake=recorder.on_handshake,
        ssl=ssl,
        timeout=timeout,
        result_timeout=result_timeout,
        expect_results=plan.expect_results,
    )
    return outcome, recorder.finish_session(outcome)
