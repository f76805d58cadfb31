"""``replay-set DIR --url CANDIDATE``: every recording of a directory (a server's captures,
or any recordings) replayed against a candidate, compared, and reported as one set.

Each recording is side A, its replay side B (compared as ``compare`` does, with its default
ignores). At most ``--concurrency`` replays run at once, each with the recorded pacing
divided by ``--speed`` (0: as fast as possible). Exit 0 when every session is within the
thresholds, 1 when any is not (or could not be replayed), 2 for local problems.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from shim.harness.cli import common
from shim.harness.cli.common import EXIT_LOCAL, EXIT_OK, EXIT_SESSION
from shim.harness.compare.comparison import DEFAULT_IGNORES, compare
from shim.harness.compare.sets import SessionSummary, SetSummary, Thresholds
from shim.harness.compare.sides import read_side
from shim.harness.recordings.recorder import Recorder
from shim.harness.recordings.recording import (
    RecordingError,
    RecordingWriter,
    read_recording,
)
from shim.harness.recordings.replay import ReplayError, plan_replay, replay_and_record
from shim.harness.reports.set_report import write_reports
from shim.harness.session.request import MASK, Credential
from shim.redaction import redact_url

PATTERN = "*.jsonl"


def recordings_in(directory: Path) -> list[Path]:
    """The whole recordings of ``directory`` in name order (a capture's name starts with its
    start time); ``*.jsonl.partial`` captures still being written are left out."""
    return sorted(path for path in directory.glob(PATTERN) if path.is_file())


async def _replay_one(
    path: Path,
    args: argparse.Namespace,
    credential: Credential | None,
    slots: asyncio.Semaphore,
    console: Console,
) -> SessionSummary:
    name = path.name
    async with slots:  # one recording in memory per slot: a directory may hold gigabytes
        try:
            recorded = read_recording(path)
            plan = plan_replay(recorded, args.url, credential)
        except (OSError, RecordingError, ReplayError) as exc:
            return SessionSummary(name, None, problem=f"not replayable: {exc}")
        writer = RecordingWriter(args.record_dir / name) if args.record_dir else None
        recorder = Recorder(
            writer,
            url=plan.url,
            headers=plan.headers,
            context={"command": "replay-set", "replayed": name, "speed": args.speed},
        )
        outcome, replayed = await replay_and_record(
            plan,
            recorder,
            speed=args.speed,
            ssl=common.ssl_from(args),
            timeout=args.timeout,
            result_timeout=args.result_timeout,
        )
    console.print(f"[dim]{name}: {len(outcome.finals)} finals, close {outcome.close_code}[/]")
    if outcome.refused is not None or (outcome.close_code is None and outcome.problems):
        return SessionSummary(name, None, problem=f"replay failed: {outcome.problems[0]}")
    comparison = compare(
        read_side("A", str(path), recorded),
        read_side("B", redact_url(plan.url, mask=MASK), replayed),
        ignores=DEFAULT_IGNORES,
        tolerance_ms=args.tolerance_ms,
    )
    return SessionSummary(name, comparison).without_frames()


def _thresholds(args: argparse.Namespace) -> Thresholds:
    def rate(value: float | None) -> float | None:
        return None if value is None or value < 0 else value / 100

    return Thresholds(
        max_wer=rate(args.max_wer),
        max_translation_wer=rate(args.max_translation_wer),
        max_missing=None if args.max_missing < 0 else args.max_missing,
        max_extra=None if args.max_extra < 0 else args.max_extra,
        max_latency=None if args.max_latency_ms is None else args.max_latency_ms / 1000,
        same_close=not args.allow_close_changes,
    )


async def run_replay_set(args: argparse.Namespace, console: Console, errors: Console) -> int:
    if not args.directory.is_dir():
        errors.print(f"error: {args.directory}: not a directory")
        return EXIT_LOCAL
    paths = recordings_in(args.directory)
    if not paths:
        errors.print(f"error: {args.directory}: no recordings ({PATTERN})")
        return EXIT_LOCAL
    if args.speed < 0 or args.concurrency < 1:
        errors.print("error: --speed must be >= 0 and --concurrency >= 1")
        return EXIT_LOCAL
    credential = common.default_credential(args.key, args.token)
    target = redact_url(args.url, mask=MASK)
    console.print(
        f"[dim]replaying {len(paths)} recordings from {args.directory} → {target},"
        f" {args.concurrency} at a time[/]"
    )
    slots = asyncio.Semaphore(args.concurrency)
    sessions = await asyncio.gather(
        *(_replay_one(path, args, credential, slots, console) for path in paths)
    )
    summary = SetSummary(
        f"Replay of {args.directory.name}",
        f"the recordings in {args.directory}",
        f"replayed against {target}",
        list(sessions),
        _thresholds(args),
    )
    html = args.html or Path("replay-set-report.html")
    try:
        write_reports(summary, html=html, json_path=args.json, junit=args.junit)
    except OSError as exc:
        errors.print(f"error: {exc}")
        return EXIT_LOCAL
    style = "green" if summary.passed else "bold red"
    console.print(
        f"[{style}]{len(sessions) - summary.failed} of {len(sessions)} sessions within the"
        f" thresholds[/]; finals {summary.finals_a} → {summary.finals_b}, missing"
        f" {summary.missing}, extra {summary.extra}, recognition WER"
        f" {summary.recognition_wer:.1%}, translation WER {summary.translation_wer:.1%}"
    )
    for session in sessions:
        for breach in session.breaches:
            console.print(f"[red]{session.name}: {breach}[/]")
    console.print(f"[dim]HTML report: {html}[/]")
    return EXIT_OK if summary.passed else EXIT_SESSION


def replay_set_command(args: argparse.Namespace) -> int:
    return asyncio.run(run_replay_set(args, common.console(), common.errors()))
