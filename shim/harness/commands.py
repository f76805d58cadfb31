"""``record``, ``replay`` and ``validate``: sessions to recordings and recordings judged."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from pathlib import Path
from typing import Any

from rich.console import Console

from shim.harness.cli_client import EXIT_CONNECT, EXIT_LOCAL, EXIT_OK, EXIT_SESSION, run_client
from shim.harness.client import SessionOutcome, run_session
from shim.harness.display import SessionDisplay
from shim.harness.recorder import Recorder
from shim.harness.recording import RecordingError, RecordingWriter, read_lines, read_recording
from shim.harness.replay import ReplayError, plan_replay
from shim.harness.request import Credential, redact_url
from shim.harness.rules import check_recording, failed
from shim.harness.tables import rules_table
from shim.harness.wire import make_ssl_context


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _errors() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def credential_from(key: str | None, token: str | None) -> Credential | None:
    if key:
        return Credential("key", key)
    if token:
        return Credential("token", token)
    return None


def ssl_from(args: argparse.Namespace) -> Any:
    if args.cafile or args.insecure:
        return make_ssl_context(args.cafile, insecure=args.insecure)
    return None


def audio_context(audio: bytes, source: str) -> dict[str, Any]:
    return {"source": source, "size": len(audio), "sha256": hashlib.sha256(audio).hexdigest()}


# -- record ------------------------------------------------------------------------------------


def record(args: argparse.Namespace) -> int:
    console = _console()
    made: list[Recorder] = []

    def make_recorder(url: str, headers: list[tuple[str, str]], audio: bytes) -> Recorder:
        source = args.file or f"espeak-ng: {args.text or 'demo sentence'}"
        recorder = Recorder(
            RecordingWriter(args.output),
            url=url,
            headers=headers,
            keep_client_audio=not args.no_client_audio,
            keep_server_audio=args.keep_audio,
            context={
                "command": "record",
                "profile": args.profile,
                "speed": args.speed,
                "audio": audio_context(audio, str(source)),
            },
        )
        made.append(recorder)
        return recorder

    try:
        code = asyncio.run(run_client(args, console, make_recorder=make_recorder))
    except OSError as exc:  # the recording file cannot be written
        _errors().print(f"error: {exc}")
        return EXIT_LOCAL
    if made:
        frames = len(made[0].frames)
        console.print(f"[dim]recording: {args.output} ({frames} frames)[/]")
    return code


# -- replay ------------------------------------------------------------------------------------


def replay(args: argparse.Namespace) -> int:
    errors = _errors()
    try:
        recording = read_recording(args.recording)
        plan = plan_replay(recording, args.url, credential_from(args.key, args.token))
    except (OSError, RecordingError, ReplayError) as exc:
        errors.print(f"error: {exc}")
        return EXIT_LOCAL
    if args.speed < 0:
        errors.print("error: --speed must be >= 0")
        return EXIT_LOCAL
    recorder = None
    if args.record is not None:
        recorder = Recorder(
            RecordingWriter(args.record),
            url=plan.url,
            headers=plan.headers,
            keep_server_audio=args.keep_audio,
            context={"command": "replay", "replayed": str(args.recording), "speed": args.speed},
        )
    console = _console()
    console.print(f"[dim]replay {args.recording} → {redact_url(plan.url)}[/]")
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
                ssl=ssl_from(args),
                timeout=args.timeout,
                result_timeout=args.result_timeout,
                expect_results=plan.expect_results,
            )
        )
    if recorder is not None:
        recorder.finish_session(outcome)
        console.print(f"[dim]recording: {args.record} ({len(recorder.frames)} frames)[/]")
    return _replay_report(outcome, plan.recorded_finals, display, console, errors)


def _replay_report(
    outcome: SessionOutcome,
    recorded: list[str],
    display: SessionDisplay,
    console: Console,
    errors: Console,
) -> int:
    if outcome.refused is not None or (outcome.close_code is None and outcome.problems):
        errors.print(f"error: {outcome.problems[0]}")
        return EXIT_CONNECT
    display.summary(outcome)
    now = [result.recognition for result in outcome.finals]
    same = sum(1 for a, b in zip(recorded, now, strict=False) if a == b)
    style = "green" if same == len(recorded) == len(now) else "yellow"
    console.print(
        f"[{style}]finals: {len(recorded)} recorded, {len(now)} now,"
        f" {same} with the same recognition[/]"
    )
    return EXIT_OK if outcome.ended_as_expected else EXIT_SESSION


# -- validate ------------------------------------------------------------------------------------


def validate(args: argparse.Namespace) -> int:
    console, errors = _console(), _errors()
    worst = EXIT_OK
    for path in args.recordings:
        try:
            lines = read_lines(path)
            recording = read_recording(path)
        except (OSError, RecordingError) as exc:
            errors.print(f"error: {exc}")
            worst = max(worst, EXIT_LOCAL)
            continue
        results = check_recording(recording, lines)
        shown = (
            [r for r in results if r.status in ("fail", "warn")] if args.failures_only else results
        )
        console.print(rules_table(shown, title=f"{path}  {redact_url(recording.url)}"))
        broken = failed(results)
        counts = {
            s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "warn", "n/a")
        }
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if broken:
            console.print(f"[bold red]✗ {path}: {summary}[/]")
            worst = max(worst, EXIT_SESSION)
        else:
            console.print(f"[green]✓ {path}: {summary}[/]")
    return worst


def validate_file(path: Path) -> list[Any]:
    """The rule results of one recording file (for callers that are not the CLI)."""
    return check_recording(read_recording(path), read_lines(path))
