"""``replay``: the client side of a recording re-sent frame by frame, results printed."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console

from shim.harness.cli import common
from shim.harness.cli.display import SessionDisplay
from shim.harness.recordings.recorder import Recorder
from shim.harness.recordings.recording import RecordingError, RecordingWriter, read_recording
from shim.harness.recordings.replay import ReplayError, plan_replay
from shim.harness.session.client import SessionOutcome, run_session
from shim.harness.session.request import MASK
from shim.redaction import redact_url


def replay(args: argparse.Namespace) -> int:
    errors = common.errors()
    try:
        recording = read_recording(args.recording)
        credential = common.default_credential(args.key, args.token)
        plan = plan_replay(recording, args.url, credential)
    except (OSError, RecordingError, ReplayError) as exc:
        errors.print(f"error: {exc}")
        return common.EXIT_LOCAL
    if args.speed < 0:
        errors.print("error: --speed must be >= 0")
        return common.EXIT_LOCAL
    recorder = None
    if args.record is not None:
        recorder = Recorder(
            RecordingWriter(args.record),
            url=plan.url,
            headers=plan.headers,
            keep_server_audio=args.keep_audio,
            context={"command": "replay", "replayed": str(args.recording), "speed": args.speed},
        )
    console = common.console()
    console.print(f"[dim]replay {args.recording} → {redact_url(plan.url, mask=MASK)}[/]")
    with SessionDisplay(console) as display:
        outcome = asyncio.run(
            run_session(
                plan.url,
                plan.headers,
                b"",
                plan.profile,
                speed=args.speed,
                on_result=display.result,
                on_tts=lambda message: display.tts(message, None),
                on_progress=display.progress,
                observer=recorder,
                on_handshake=recorder.on_handshake if recorder is not None else None,
                ssl=common.ssl_from(args),
                timeout=args.timeout,
                result_timeout=args.result_timeout,
                expect_results=plan.expect_results,
            )
        )
    if recorder is not None:
        recorder.finish_session(outcome)
        console.print(f"[dim]recording: {args.record} ({len(recorder.frames)} frames)[/]")
    return _report(outcome, plan.recorded_finals, display, console, errors)


def _report(
    outcome: SessionOutcome,
    recorded: list[str],
    display: SessionDisplay,
    console: Console,
    errors: Console,
) -> int:
    if outcome.refused is not None or (outcome.close_code is None and outcome.problems):
        errors.print(f"error: {outcome.problems[0]}")
        return common.EXIT_CONNECT
    display.summary(outcome)
    now = [result.recognition for result in outcome.finals]
    same = sum(1 for a, b in zip(recorded, now, strict=False) if a == b)
    style = "green" if same == len(recorded) == len(now) else "yellow"
    console.print(
        f"[{style}]finals: {len(recorded)} recorded, {len(now)} now,"
        f" {same} with the same recognition[/]"
    )
    return common.EXIT_OK if outcome.ended_as_expected else common.EXIT_SESSION
